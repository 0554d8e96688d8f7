// Command cdi-webhook is the admission webhook of cdi-functions
// (knative.dev/pkg/webhook): for every claim that asks for a clone
// (k8s.io/CloneRequest) it checks, with SubjectAccessReviews made with the
// requesting user's identity, that the user may clone from the source's
// namespace, and stamps the claim with a signed grant (pkg/cloneauth) the
// cloner verifies before it moves a byte. A user-written grant is refused.
//
// knative.dev/pkg makes and rotates the serving certificate (the Secret
// cdi-webhook-certs); this program keeps the caBundle of the
// MutatingWebhookConfiguration clone.cdi-functions.io in step with it.
package main

import (
	"knative.dev/pkg/injection/sharedmain"
	"knative.dev/pkg/signals"
	"knative.dev/pkg/webhook"
	"knative.dev/pkg/webhook/certificates"
)

func main() {
	secretName := webhook.SecretNameFromEnv(certSecretName)
	ctx := webhook.WithOptions(signals.NewContext(), webhook.Options{
		ServiceName: serviceName,
		SecretName:  secretName,
		Port:        webhook.PortFromEnv(defaultPort),
	})
	limitSecretInformer(secretName)
	sharedmain.MainWithContext(ctx, component, certificates.NewController, NewController)
}

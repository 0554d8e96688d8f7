//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// seedTargetPVC is the 2018 post's target-pvc.yaml, verbatim.
const seedTargetPVC = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: "target-pvc"
  namespace: "target-ns"
  labels:
    app: Host-Assisted-Cloning
  annotations:
    k8s.io/CloneRequest: "source-ns/golden-pvc"
spec:
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 10Gi
`

// cloneTimeout bounds one clone on the local cluster (the images are
// small; most of it is pods starting).
const cloneTimeout = 3 * time.Minute

// cloneWebhook is the clone admission webhook's configuration.
const cloneWebhook = "clone.cdi-functions.io"

// testClones runs the clone scenarios (issue 9) on the deployed
// cdi-functions, side by side in their own namespaces, then the one that
// takes the clone webhook away (alone: every clone claim needs it).
func testClones(t *testing.T) {
	waitCloneComponents(t)
	im := makeImages(t)
	srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2.xz")})
	url := srv.URL + "/disk.qcow2.xz"
	t.Run("parallel", func(t *testing.T) { cloneScenarios(t, im, url) })
	t.Run("WebhookDownCopiedGrantNotHonoured", func(t *testing.T) { testCopiedGrantWithoutWebhook(t, im, url) })
}

// cloneScenarios are the clone scenarios that run side by side (in both
// profiles), from url's image.
func cloneScenarios(t *testing.T, im *images, url string) {
	t.Run("SeedYAMLVerbatimButNamespaces", func(t *testing.T) { testSeedClone(t, im, url) })
	t.Run("SameNamespace", func(t *testing.T) {
		t.Parallel()
		ns := uploadNamespace(t)
		importGolden(t, ns, "golden", "64Mi", url, im.raw)
		createClaim(t, ns, cloneClaim("copy", "64Mi", ns+"/golden"))
		requireCloned(t, ns, "copy", im.raw)
		requireSourceUntouched(t, ns, "golden", im.raw)
	})
	t.Run("CrossNamespaceNeedsTheCloneSourcerRole", func(t *testing.T) { testCloneAuthorization(t, im, url) })
	t.Run("ExternalRequests", func(t *testing.T) {
		if knativeProfile() {
			testExternalRequestsThroughBroker(t, im, url)
		} else {
			testExternalRequests(t, im, url)
		}
	})
	t.Run("ForgedAuthorizationRefusedAtAdmission", func(t *testing.T) { testForgedAuthorization(t, im, url) })
	t.Run("SourceMissingThenImported", func(t *testing.T) {
		t.Parallel()
		ns := uploadNamespace(t)
		createClaim(t, ns, cloneClaim("early", "64Mi", ns+"/later"))
		waitEvent(t, ns, "early", reason.CloneSourceNotReady, "waiting for the source claim "+ns+"/later to exist")
		assert.Empty(t, clonePods(t, ns), "no pods while the source is missing")
		createClaim(t, ns, importClaim("later", "64Mi", url))
		waitEvent(t, ns, "early", reason.CloneSourceNotReady, "to finish its own import")
		requireCloned(t, ns, "early", im.raw)
	})
	t.Run("TargetSmallerFails", func(t *testing.T) {
		t.Parallel()
		ns := uploadNamespace(t)
		importGolden(t, ns, "golden", "64Mi", url, im.raw)
		createClaim(t, ns, cloneClaim("small", "32Mi", ns+"/golden"))
		c := waitFinal(t, ns, "small")
		require.Equal(t, annotations.PhaseFailed, c.Annotations[annotations.PodPhase], "annotations: %v", c.Annotations)
		assert.Equal(t, reason.CloneTargetTooSmall, c.Annotations[annotations.Reason])
		waitEvent(t, ns, "small", reason.CloneTargetTooSmall, "is smaller than the source claim")
		assert.Empty(t, clonePods(t, ns))
	})
	t.Run("FiveClonesOfOneGolden", func(t *testing.T) {
		t.Parallel()
		src := uploadNamespace(t)
		dst := uploadNamespace(t)
		importGolden(t, src, "golden", "64Mi", url, im.raw)
		for i := range 5 {
			createClaim(t, dst, cloneClaim(fmt.Sprintf("vm-%d", i), "64Mi", src+"/golden"))
		}
		for i := range 5 {
			requireCloned(t, dst, fmt.Sprintf("vm-%d", i), im.raw)
		}
		requireSourceUntouched(t, src, "golden", im.raw)
	})
	t.Run("SourcePodDeletedMidClone", func(t *testing.T) {
		t.Parallel()
		src := uploadNamespace(t)
		dst := uploadNamespace(t)
		importGolden(t, src, "golden", "64Mi", url, im.raw)
		createClaim(t, dst, cloneClaim("copy", "64Mi", src+"/golden"))
		target := claimUID(t, dst, "copy")
		name := datapod.CloneSourcePodName(target)
		eventually(t, cloneTimeout, "the source pod "+src+"/"+name, func(ctx context.Context) (bool, error) {
			_, err := e2e.client.CoreV1().Pods(src).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
		require.NoError(t, e2e.client.CoreV1().Pods(src).Delete(context.Background(), name, metav1.DeleteOptions{}))
		requireCloned(t, dst, "copy", im.raw)
	})
	t.Run("BlockToBlock", func(t *testing.T) {
		t.Parallel()
		ns := uploadNamespace(t)
		createClaim(t, ns, importClaim("golden", "64Mi", url, asBlock()))
		requireBlockSucceeded(t, waitFinal(t, ns, "golden"), im.raw)
		createClaim(t, ns, cloneClaim("copy", "64Mi", ns+"/golden", asBlock()))
		c := waitFinal(t, ns, "copy")
		require.Equal(t, "true", c.Annotations[annotations.CloneOf], "annotations: %v", c.Annotations)
		requireBlockSucceeded(t, c, im.raw)
	})
}

// testSeedClone: the post's golden-pvc.yaml imported in a source
// namespace, then its target-pvc.yaml, verbatim but the two namespaces
// (unique per run), created in the target namespace by the cluster's
// admin.
func testSeedClone(t *testing.T, im *images, url string) {
	t.Parallel()
	src := uploadNamespace(t)
	dst := uploadNamespace(t)
	createClaim(t, src, seedClaim(t, url))
	requireSucceeded(t, waitFinal(t, src, "golden-pvc"), im.raw)

	y := strings.ReplaceAll(strings.ReplaceAll(seedTargetPVC, `"target-ns"`, `"`+dst+`"`), `"source-ns/`, `"`+src+`/`)
	var c corev1.PersistentVolumeClaim
	require.NoError(t, yaml.UnmarshalStrict([]byte(y), &c))
	createClaim(t, dst, &c)
	requireCloned(t, dst, "target-pvc", im.raw)
	requireSourceUntouched(t, src, "golden-pvc", im.raw)
}

// testCloneAuthorization: a user who may create claims in her namespace
// but not read the source's is refused at admission, with the missing
// permission named and no pod made; bound to cdi.kubevirt.io:clone-sourcer
// in the source namespace, she clones.
func testCloneAuthorization(t *testing.T, im *images, url string) {
	t.Parallel()
	src := uploadNamespace(t)
	dst := uploadNamespace(t)
	importGolden(t, src, "golden", "64Mi", url, im.raw)
	user := "alice-" + dst
	bind(t, dst, user, "ClusterRole", "edit")
	alice := impersonate(t, user)

	_, err := alice.CoreV1().PersistentVolumeClaims(dst).Create(context.Background(), cloneClaim("mine", "64Mi", src+"/golden"), metav1.CreateOptions{})
	require.Error(t, err, "refused at admission")
	msg := err.Error()
	for _, want := range []string{user, src, "datavolumes/source", "cdi.kubevirt.io", "create", "pods", "cdi.kubevirt.io:clone-sourcer"} {
		assert.Contains(t, msg, want, "the refusal names the missing permission")
	}
	_, err = e2e.client.CoreV1().PersistentVolumeClaims(dst).Get(context.Background(), "mine", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no claim was made")
	assert.Empty(t, clonePods(t, src))

	bind(t, src, user, "ClusterRole", "cdi.kubevirt.io:clone-sourcer")
	eventually(t, time.Minute, "alice admitted once bound", func(ctx context.Context) (bool, error) {
		_, err := alice.CoreV1().PersistentVolumeClaims(dst).Create(ctx, cloneClaim("mine", "64Mi", src+"/golden"), metav1.CreateOptions{})
		return err == nil, nil
	})
	requireCloned(t, dst, "mine", im.raw)
}

// testForgedAuthorization: the attacker's moves on the authorization
// annotation are refused at admission: a user's own value on a new claim
// is overwritten by the webhook's grant for her, and editing the grant of
// an admitted claim, or copying another claim's grant onto it, is
// refused.
func testForgedAuthorization(t *testing.T, im *images, url string) {
	t.Parallel()
	ns := uploadNamespace(t)
	importGolden(t, ns, "golden", "64Mi", url, im.raw)
	c := cloneClaim("forged", "64Mi", ns+"/golden", withAnnotation(annotations.CloneAuthorization, "v1.forged.grant"))
	made, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), c, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, "v1.forged.grant", made.Annotations[annotations.CloneAuthorization], "the webhook's grant replaces a user's value")
	requireCloned(t, ns, "forged", im.raw)

	other, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(),
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "plain", Annotations: map[string]string{}}, Spec: c.Spec},
		metav1.CreateOptions{})
	require.NoError(t, err)
	if other.Annotations == nil {
		other.Annotations = map[string]string{}
	}
	other.Annotations[annotations.CloneAuthorization] = made.Annotations[annotations.CloneAuthorization]
	_, err = e2e.client.CoreV1().PersistentVolumeClaims(ns).Update(context.Background(), other, metav1.UpdateOptions{})
	require.Error(t, err, "a copied grant is refused")
	assert.Contains(t, err.Error(), "cdi-functions")

	cur := getClaim(t, ns, "forged")
	cur.Annotations[annotations.CloneAuthorization] += "x"
	_, err = e2e.client.CoreV1().PersistentVolumeClaims(ns).Update(context.Background(), cur, metav1.UpdateOptions{})
	require.Error(t, err, "an edited grant is refused")
}

// testCopiedGrantWithoutWebhook: with the webhook's configuration gone
// (an operator's mistake), a claim carrying a grant copied from another
// claim is admitted by the API server but not honoured: Failed with an
// Event saying why, and no pod. The configuration is put back after.
func testCopiedGrantWithoutWebhook(t *testing.T, im *images, url string) {
	ns := uploadNamespace(t)
	importGolden(t, ns, "golden", "64Mi", url, im.raw)
	createClaim(t, ns, cloneClaim("first", "64Mi", ns+"/golden"))
	grant := getClaim(t, ns, "first").Annotations[annotations.CloneAuthorization]
	require.NotEmpty(t, grant)
	requireCloned(t, ns, "first", im.raw)

	hooks := e2e.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	saved, err := hooks.Get(context.Background(), cloneWebhook, metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, hooks.Delete(context.Background(), cloneWebhook, metav1.DeleteOptions{}))
	t.Cleanup(func() { restoreWebhook(t, saved) })
	eventually(t, time.Minute, "the API server no longer calls the webhook", func(ctx context.Context) (bool, error) {
		probe := cloneClaim("probe", "64Mi", ns+"/golden", withAnnotation(annotations.CloneAuthorization, "unsigned"))
		got, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && got.Annotations[annotations.CloneAuthorization] == "unsigned", nil
	})

	createClaim(t, ns, cloneClaim("copied", "64Mi", ns+"/golden", withAnnotation(annotations.CloneAuthorization, grant)))
	c := waitFinal(t, ns, "copied")
	require.Equal(t, annotations.PhaseFailed, c.Annotations[annotations.PodPhase], "annotations: %v", c.Annotations)
	assert.Equal(t, reason.CloneNotAuthorized, c.Annotations[annotations.Reason])
	waitEvent(t, ns, "copied", reason.CloneNotAuthorized, "not cloning")
	assert.Empty(t, c.Annotations[annotations.CloneOf])
	for _, p := range clonePods(t, ns) {
		assert.NotContains(t, p, "copied", "no pod for a clone that is not authorized")
	}
}

// restoreWebhook puts the webhook's configuration back and waits until
// it admits clone claims again.
func restoreWebhook(t *testing.T, saved *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	hooks := e2e.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	saved = saved.DeepCopy()
	saved.ResourceVersion, saved.UID, saved.CreationTimestamp, saved.ManagedFields = "", "", metav1.Time{}, nil
	if _, err := hooks.Create(context.Background(), saved, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Errorf("restore the clone webhook: %v", err)
		return
	}
	ns := "default"
	eventually(t, 2*time.Minute, "the clone webhook stamps grants again", func(ctx context.Context) (bool, error) {
		probe := cloneClaim("probe", "64Mi", ns+"/none")
		got, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && got.Annotations[annotations.CloneAuthorization] != "", nil
	})
}

// cloneClaim is a claim of size asking to clone source ("ns/name"):
// importClaim's claim with the clone request instead of the endpoint.
func cloneClaim(name, size, source string, opts ...claimOpt) *corev1.PersistentVolumeClaim {
	c := importClaim(name, size, "", opts...)
	delete(c.Annotations, annotations.Endpoint)
	c.Annotations[annotations.CloneRequest] = source
	return c
}

// importGolden imports url into the claim ns/name and checks it holds
// want.
func importGolden(t *testing.T, ns, name, size, url string, want []byte) {
	t.Helper()
	createClaim(t, ns, importClaim(name, size, url))
	requireSucceeded(t, waitFinal(t, ns, name), want)
}

// requireCloned waits for the clone ns/name to finish and checks it
// Succeeded with k8s.io/CloneOf "true" and a CloneSucceeded Event, holds
// want (then zeros), and that its clone pods are gone.
func requireCloned(t *testing.T, ns, name string, want []byte) {
	t.Helper()
	var c *corev1.PersistentVolumeClaim
	eventually(t, cloneTimeout, "clone "+ns+"/"+name+" to finish", func(ctx context.Context) (bool, error) {
		var err error
		c, err = e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return annotations.Final(c.Annotations[annotations.PodPhase]), nil
	})
	require.Equal(t, annotations.PhaseSucceeded, c.Annotations[annotations.PodPhase], "annotations: %v", c.Annotations)
	assert.Equal(t, "true", c.Annotations[annotations.CloneOf])
	requireDiskImage(t, c, want)
	waitEvent(t, ns, name, reason.CloneSucceeded, "")
	src, _, err := annotations.CloneSourceOf(c.Annotations)
	require.NoError(t, err)
	sourcePod := datapod.CloneSourcePodName(string(c.UID))
	waitGone(t, time.Minute, "the clone's pods", func(ctx context.Context) error {
		if _, err := e2e.client.CoreV1().Pods(ns).Get(ctx, datapod.CloneTargetPodName(name), metav1.GetOptions{}); err == nil {
			return nil
		} else if !apierrors.IsNotFound(err) {
			return err
		}
		_, err := e2e.client.CoreV1().Pods(src.Namespace).Get(ctx, sourcePod, metav1.GetOptions{})
		return err
	})
}

// requireSourceUntouched checks the source claim still holds want and
// was not marked by the clone.
func requireSourceUntouched(t *testing.T, ns, name string, want []byte) {
	t.Helper()
	c := getClaim(t, ns, name)
	assert.Empty(t, c.Annotations[annotations.CloneOf])
	requireDiskImage(t, c, want)
}

// clonePods lists the clone pods of ns.
func clonePods(t *testing.T, ns string) []string {
	t.Helper()
	l, err := e2e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: datapod.Selector})
	require.NoError(t, err)
	var out []string
	for _, p := range l.Items {
		if k := p.Labels[datapod.LabelKind]; k == datapod.KindCloneSource || k == datapod.KindCloneTarget {
			out = append(out, p.Name)
		}
	}
	return out
}

// claimUID returns the UID of the claim ns/name.
func claimUID(t *testing.T, ns, name string) string {
	t.Helper()
	return string(getClaim(t, ns, name).UID)
}

// waitCloneComponents waits until the cloner and the clone webhook run
// and the webhook admits clone claims (its caBundle is set).
func waitCloneComponents(t *testing.T) {
	t.Helper()
	for _, name := range []string{"cdi-cloner", "cdi-webhook"} {
		eventually(t, 3*time.Minute, "deployment "+name, func(ctx context.Context) (bool, error) {
			d, err := e2e.client.AppsV1().Deployments("cdi").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return d.Status.AvailableReplicas > 0, nil
		})
	}
	eventually(t, 2*time.Minute, "the clone webhook admits", func(ctx context.Context) (bool, error) {
		probe := cloneClaim("probe", "64Mi", "default/none")
		got, err := e2e.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && got.Annotations[annotations.CloneAuthorization] != "", nil
	})
}

// bind binds the role (kind ClusterRole or Role) to user in ns.
func bind(t *testing.T, ns, user, kind, role string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	_, err := e2e.client.RbacV1().RoleBindings(ns).Create(context.Background(), rb, metav1.CreateOptions{})
	require.NoError(t, err)
}

// impersonate is a client acting as user (group system:authenticated).
func impersonate(t *testing.T, user string) kubernetes.Interface {
	t.Helper()
	cfg := *e2e.config
	cfg.Impersonate.UserName = user
	cfg.Impersonate.Groups = []string{"system:authenticated"}
	c, err := kubernetes.NewForConfig(&cfg)
	require.NoError(t, err)
	return c
}

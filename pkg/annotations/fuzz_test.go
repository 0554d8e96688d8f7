package annotations

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzValidate: any annotation values are validated without panicking, and
// an error never repeats a password found in the endpoint or S3 endpoint.
func FuzzValidate(f *testing.F) {
	f.Add("https://images.example/disk.qcow2", "", "sha256:"+strings.Repeat("ab", 32), "creds", "kubevirt")
	f.Add("https://admin:hunter2@images.example/disk.img", "http://k:s3cret@minio:9000", "md5:zz", "Not_A_Name", "archive")
	f.Add("s3://bucket/key", "http://[::1", "sha512:", "a.b-c", "")
	f.Add("ftp://x/%zz", "\x00", "sha1:0", strings.Repeat("a", 300), "other")
	f.Fuzz(func(t *testing.T, endpoint, s3, sum, secret, contentType string) {
		ann := map[string]string{Endpoint: endpoint, S3Endpoint: s3, Checksum: sum, SecretName: secret, CertConfigMap: secret, ContentType: contentType}
		req, ok := ImportRequestOf(ann)
		if !ok {
			t.Fatal("an endpoint annotation is an import request")
		}
		err := req.Validate()
		if err == nil {
			return
		}
		for _, raw := range []string{endpoint, s3} {
			u, perr := url.Parse(strings.TrimSpace(raw))
			if perr != nil || u.User == nil {
				continue
			}
			p, set := u.User.Password()
			if !set || p == "" || !strings.Contains(err.Error(), p) {
				continue
			}
			// Not a leak when the text holds it anyway: a word of a message
			// or an annotation name ("s3" of s3Endpoint), or the rest of the
			// URL ("k:3c@host/s3c"). So compare with the same request
			// without that URL's user info, and with the password removed
			// everywhere; a leak is p in neither.
			noUser := *u
			noUser.User = nil
			withoutUser, withoutP := req, req
			if raw == endpoint {
				withoutUser.Endpoint = noUser.String()
			} else {
				withoutUser.S3Endpoint = noUser.String()
			}
			withoutP.Endpoint = strings.ReplaceAll(withoutP.Endpoint, p, "")
			withoutP.S3Endpoint = strings.ReplaceAll(withoutP.S3Endpoint, p, "")
			holds := func(r ImportRequest) bool { e := r.Validate(); return e != nil && strings.Contains(e.Error(), p) }
			if !holds(withoutUser) && !holds(withoutP) {
				t.Fatalf("error repeats the password %q: %v", p, err)
			}
		}
	})
}

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy/tus"
)

// pollInterval is how often the claim is read while waiting.
const pollInterval = 2 * time.Second

// upload runs cdictl upload.
func upload(ctx context.Context, o uploadOptions, stdout, stderr io.Writer) error {
	f, fileSize, err := openImage(o.image)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := connect(o.kubeconfig, o.namespace)
	if err != nil {
		return err
	}
	if _, err := ensureClaim(ctx, c, o, f, fileSize, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "waiting for the upload pod of %s/%s\n", c.namespace, o.pvc)
	claim, err := waitClaim(ctx, c, o.pvc, o.readyTimeout, func(s claimState) bool { return s != stateWaiting })
	if err != nil {
		return fmt.Errorf("the upload pod of %s/%s is not ready after %s (annotation cdi.kubevirt.io/storage.pod.ready): "+
			"is cdi-functions deployed and the claim bound? (%w)", c.namespace, o.pvc, o.readyTimeout, err)
	}
	switch readState(claim) {
	case stateSucceeded:
		fmt.Fprintf(stdout, "%s/%s is already uploaded\n", c.namespace, o.pvc)
		return nil
	case stateFailed:
		return errors.New(failure(claim, c.claimEvents(ctx, o.pvc)))
	}
	base := o.proxyURL
	if base == "" {
		if base, err = c.proxyURL(ctx); err != nil {
			return err
		}
	}
	if err := send(ctx, c, o, claim, f, fileSize, strings.TrimSuffix(base, "/"), stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "uploaded; waiting for the import into %s/%s\n", c.namespace, o.pvc)
	claim, err = waitClaim(ctx, c, o.pvc, o.doneTimeout, func(s claimState) bool { return s == stateSucceeded || s == stateFailed })
	if err != nil {
		return fmt.Errorf("%s/%s did not finish within %s: %w", c.namespace, o.pvc, o.doneTimeout, err)
	}
	if readState(claim) == stateFailed {
		return errors.New(failure(claim, c.claimEvents(ctx, o.pvc)))
	}
	fmt.Fprintf(stdout, "%s/%s: Succeeded\n", c.namespace, o.pvc)
	return nil
}

// ensureClaim returns the claim, creating it when missing (unless
// --no-create).
func ensureClaim(ctx context.Context, c *cluster, o uploadOptions, f io.ReaderAt, fileSize int64, stdout io.Writer) (*corev1.PersistentVolumeClaim, error) {
	pvcs := c.kube.CoreV1().PersistentVolumeClaims(c.namespace)
	claim, err := pvcs.Get(ctx, o.pvc, metav1.GetOptions{})
	switch {
	case err == nil:
		return claim, checkTarget(claim)
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("read claim %s/%s: %w", c.namespace, o.pvc, err)
	case o.noCreate:
		return nil, fmt.Errorf("claim %s/%s does not exist (--no-create)", c.namespace, o.pvc)
	}
	var size resource.Quantity
	if o.size != "" {
		if size, err = resource.ParseQuantity(o.size); err != nil {
			return nil, fmt.Errorf("--size: %w", err)
		}
	} else {
		n, err := imageSize(f, fileSize)
		if err != nil {
			return nil, err
		}
		size = claimSize(n, o.block)
	}
	claim, err = pvcs.Create(ctx, newClaim(o, c.namespace, size), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create claim %s/%s: %w", c.namespace, o.pvc, err)
	}
	fmt.Fprintf(stdout, "created claim %s/%s (%s)\n", c.namespace, o.pvc, size.String())
	return claim, nil
}

// waitClaim reads the claim until done says its state is reached.
func waitClaim(ctx context.Context, c *cluster, name string, timeout time.Duration, done func(claimState) bool) (*corev1.PersistentVolumeClaim, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		claim, err := c.kube.CoreV1().PersistentVolumeClaims(c.namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && done(readState(claim)) {
			return claim, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return claim, err
		case <-t.C:
		}
	}
}

// send uploads the image over tus with a progress bar, re-requesting the
// token when it expires.
func send(ctx context.Context, c *cluster, o uploadOptions, claim *corev1.PersistentVolumeClaim, f io.ReaderAt, size int64,
	base string, stderr io.Writer) error {
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("uploading"), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowCount(), progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }))
	tc := &tokenCache{fetch: func(ctx context.Context) (string, error) { return c.requestToken(ctx, o.pvc) }, lifetime: 4 * time.Minute}
	endpoint := base + "/v1beta1/upload-tus"
	client := &tus.Client{
		HTTP: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: o.insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // --insecure
			TLSHandshakeTimeout: 15 * time.Second,
		}},
		Endpoint:    endpoint,
		UploadURL:   endpoint + "/" + string(claim.UID),
		Token:       tc.token,
		MaxAttempts: 30,
		// The bar follows the bytes read for sending (barReader), and goes
		// back to what the pod stored after a resume.
		Progress: func(stored, _ int64) { _ = bar.Set64(stored) },
	}
	body := &barReader{f: f, bar: bar}
	res, err := client.Upload(ctx, body, size)
	_ = bar.Finish()
	if err != nil {
		if res.State == tus.StateFailed && res.Message != "" {
			return fmt.Errorf("the upload pod refused the image: %s", res.Message)
		}
		return fmt.Errorf("upload: %w", err)
	}
	if res.Resumed > 0 {
		fmt.Fprintf(stderr, "resumed %d times; %d bytes sent for %d\n", res.Resumed, res.Sent, size)
	}
	return nil
}

// barReader moves the progress bar as bytes are read for sending.
type barReader struct {
	f   io.ReaderAt
	bar *progressbar.ProgressBar
}

func (b *barReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := b.f.ReadAt(p, off)
	_ = b.bar.Set64(off + int64(n))
	return n, err
}

// tokenCache requests a token once per lifetime, or again when one was
// refused as expired.
type tokenCache struct {
	fetch    func(context.Context) (string, error)
	lifetime time.Duration
	now      func() time.Time

	mu  sync.Mutex
	tok string
	at  time.Time
}

func (t *tokenCache) token(ctx context.Context, refresh bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	if t.tok != "" && !refresh && now().Sub(t.at) < t.lifetime {
		return t.tok, nil
	}
	tok, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	t.tok, t.at = tok, now()
	return tok, nil
}

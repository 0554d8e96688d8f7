package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

func qcow2Header(virtual uint64) []byte {
	h := make([]byte, 64)
	copy(h, qcow2Magic)
	binary.BigEndian.PutUint64(h[24:], virtual)
	return h
}

func TestImageSize(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		want    int64
		wantErr bool
	}{
		{name: "qcow2: its virtual size", data: qcow2Header(10 << 30), want: 10 << 30},
		{name: "raw: the file's size", data: bytes.Repeat([]byte{1}, 4096), want: 4096},
		{name: "tiny file", data: []byte("abc"), want: 3},
		{name: "qcow2 with a zero size", data: qcow2Header(0), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := imageSize(bytes.NewReader(tt.data), int64(len(tt.data)))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestImageSizeOfRealQcow2: the header as qemu-img writes it.
func TestImageSizeOfRealQcow2(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/d.qcow2"
	tooltest.Need(t, "qemu-img")
	tooltest.Sh(t, dir, "qemu-img create -q -f qcow2 d.qcow2 3G")
	f, size, err := openImage(path)
	require.NoError(t, err)
	defer f.Close()
	got, err := imageSize(f, size)
	require.NoError(t, err)
	assert.EqualValues(t, 3<<30, got)
}

func TestClaimSize(t *testing.T) {
	fs := claimSize(1<<30, false)
	assert.Equal(t, "1086Mi", fs.String(), "6% file system overhead, rounded up to MiB")
	blk := claimSize(1<<30, true)
	assert.Equal(t, "1Gi", blk.String())
	tiny := claimSize(1, true)
	assert.Equal(t, "1Mi", tiny.String())
}

func TestProxyURL(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443, NodePort: 31001}}}}
	node := func(ip string, ready corev1.ConditionStatus) corev1.Node {
		return corev1.Node{Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n"}, {Type: corev1.NodeInternalIP, Address: ip}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
	}
	got, err := proxyURL(svc, []corev1.Node{node("10.0.0.1", corev1.ConditionFalse), node("10.0.0.2", corev1.ConditionTrue)})
	require.NoError(t, err)
	assert.Equal(t, "https://10.0.0.2:31001", got, "a Ready node first")
	got, err = proxyURL(svc, []corev1.Node{node("fd00::1", corev1.ConditionFalse)})
	require.NoError(t, err)
	assert.Equal(t, "https://[fd00::1]:31001", got)

	_, err = proxyURL(&corev1.Service{}, nil)
	assert.ErrorContains(t, err, "--uploadproxy-url")
	_, err = proxyURL(svc, nil)
	assert.ErrorContains(t, err, "InternalIP")
}

func TestReadStateAndFailure(t *testing.T) {
	claim := func(a map[string]string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "disk", Annotations: a}}
	}
	tests := []struct {
		a    map[string]string
		want claimState
	}{
		{a: nil, want: stateWaiting},
		{a: map[string]string{annotations.PodReady: "false"}, want: stateWaiting},
		{a: map[string]string{annotations.PodReady: "true", annotations.PodPhase: "Running"}, want: stateReady},
		{a: map[string]string{annotations.PodPhase: "Succeeded"}, want: stateSucceeded},
		{a: map[string]string{annotations.PodPhase: "Failed"}, want: stateFailed},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, readState(claim(tt.a)), "%v", tt.a)
	}
	msg := failure(claim(map[string]string{annotations.Reason: "ErrImportFailed", annotations.Message: "not an image: an HTML page"}),
		[]corev1.Event{{Type: corev1.EventTypeNormal, Reason: "Created", Message: "x"}, {Type: corev1.EventTypeWarning, Reason: "ErrImportFailed", Message: "bad"}})
	assert.Equal(t, "the upload into vms/disk failed (ErrImportFailed): not an image: an HTML page\n  event ErrImportFailed: bad", msg)
	assert.Error(t, checkTarget(claim(nil)))
	assert.NoError(t, checkTarget(claim(map[string]string{annotations.UploadTarget: ""})))
}

func TestNewClaim(t *testing.T) {
	o := uploadOptions{pvc: "disk", accessMode: "ReadWriteOnce", storageClass: "local", block: true}
	c := newClaim(o, "vms", claimSize(1<<20, true))
	assert.Contains(t, c.Annotations, annotations.UploadTarget)
	assert.Equal(t, corev1.PersistentVolumeBlock, *c.Spec.VolumeMode)
	assert.Equal(t, "local", *c.Spec.StorageClassName)
	assert.Equal(t, "1Mi", c.Spec.Resources.Requests.Storage().String())
}

func TestParseUpload(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"--image", "x"}, want: "--pvc is required"},
		{args: []string{"--pvc", "p"}, want: "--image is required"},
		{args: []string{"--pvc", "p", "--image", "x", "--access-mode", "RWX"}, want: "--access-mode"},
		{args: []string{"--pvc", "p", "--image", "x", "extra"}, want: "unexpected"},
		{args: []string{"--pvc", "p", "--image", "x"}},
	}
	for _, tt := range tests {
		_, err := parseUpload(tt.args, io.Discard)
		if tt.want == "" {
			assert.NoError(t, err)
			continue
		}
		assert.ErrorContains(t, err, tt.want)
	}
	assert.Equal(t, exitUsage, run(context.Background(), nil, io.Discard, io.Discard))
	assert.Equal(t, exitUsage, run(context.Background(), []string{"download"}, io.Discard, io.Discard))
}

func TestTokenCache(t *testing.T) {
	now := time.Unix(0, 0)
	n := 0
	tc := &tokenCache{lifetime: 4 * time.Minute, now: func() time.Time { return now },
		fetch: func(context.Context) (string, error) { n++; return string(rune('a' + n)), nil }}
	ctx := context.Background()
	a, _ := tc.token(ctx, false)
	b, _ := tc.token(ctx, false)
	assert.Equal(t, a, b, "cached")
	c, _ := tc.token(ctx, true)
	assert.NotEqual(t, a, c, "refreshed when refused as expired")
	now = now.Add(5 * time.Minute)
	d, _ := tc.token(ctx, false)
	assert.NotEqual(t, c, d, "renewed before it expires")
	tc.fetch = func(context.Context) (string, error) { return "", errors.New("forbidden") }
	_, err := tc.token(ctx, true)
	assert.Error(t, err)
}

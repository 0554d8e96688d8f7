package record

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func claim(name, uid string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "vms", UID: k8stypes.UID("uid-" + uid)}}
}

func TestRecordCountsRepeats(t *testing.T) {
	kube := fake.NewClientset()
	clock := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	r := New(kube, "cdi-importer", "cdi-functions.io/importer", "cdi-importer-0", func() time.Time { return clock })
	c := claim("disk", "1")
	warn := Event{Type: corev1.EventTypeWarning, Reason: "ErrMissingSecret", Message: "Secret vms/s does not exist"}
	require.NoError(t, r.Record(context.Background(), c, warn))
	clock = clock.Add(time.Minute)
	require.NoError(t, r.Record(context.Background(), c, warn))

	l, err := kube.CoreV1().Events("vms").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, l.Items, 1, "one Event, counted")
	e := l.Items[0]
	assert.Equal(t, int32(2), e.Count)
	assert.Equal(t, clock, e.LastTimestamp.Time.UTC())
	assert.Equal(t, "ErrMissingSecret", e.Reason)
	assert.Equal(t, corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: "vms", Name: "disk", UID: "uid-1"}, e.InvolvedObject)
	assert.Equal(t, "cdi-importer", e.Source.Component)
	assert.Equal(t, "cdi-importer-0", e.ReportingInstance)
}

func TestRecordOccurrences(t *testing.T) {
	kube := fake.NewClientset()
	r := New(kube, "cdi-updater", "cdi-functions.io/updater", "cdi-updater-0", nil)
	c := claim("disk", "1")
	ok := Event{Type: corev1.EventTypeNormal, Reason: "ImportSucceeded", Message: "Import Complete", Occurrence: "rv-7"}
	require.NoError(t, r.Record(context.Background(), c, ok))
	require.NoError(t, r.Record(context.Background(), c, ok), "the same transition twice")
	ok.Occurrence = "rv-9"
	require.NoError(t, r.Record(context.Background(), c, ok))

	l, err := kube.CoreV1().Events("vms").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, l.Items, 2, "one Event per occurrence")
	for _, e := range l.Items {
		assert.Equal(t, int32(1), e.Count)
	}
}

func TestNameAndTruncate(t *testing.T) {
	a := Name(claim("c", "1"), "", "R", "m1")
	assert.Equal(t, a, Name(claim("c", "1"), "", "R", "m1"), "deterministic")
	assert.NotEqual(t, a, Name(claim("c", "1"), "", "R", "m2"))
	assert.NotEqual(t, a, Name(claim("c", "2"), "", "R", "m1"), "a re-created claim")
	assert.NotEqual(t, a, Name(claim("c", "1"), "rv", "R", "m1"))
	long := Name(claim(strings.Repeat("n", 252)+"-", "1"), "", "R", "m")
	assert.LessOrEqual(t, len(long), 253)

	assert.Equal(t, "abc", Truncate("abc", 3))
	cut := Truncate(strings.Repeat("é", 10), 7)
	assert.LessOrEqual(t, len(cut), 7)
	assert.True(t, strings.HasSuffix(cut, "…"))
	assert.True(t, strings.HasPrefix(cut, "éé"))
}

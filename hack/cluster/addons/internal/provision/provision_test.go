package provision

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

var testConfig = Config{Name: "local.cdi-functions.io/volume", Node: "cdi-node", Dir: "/var/lib/volumes"}

type claimOpt func(*corev1.PersistentVolumeClaim)

func claim(name string, opts ...claimOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
			Annotations: map[string]string{AnnStorageProvisioner: testConfig.Name},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr("standard"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")},
			},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func block(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = ptr(corev1.PersistentVolumeBlock) }
func otherProvisioner(c *corev1.PersistentVolumeClaim) {
	c.Annotations[AnnStorageProvisioner] = "example.com/other"
}
func bound(c *corev1.PersistentVolumeClaim) {
	c.Spec.VolumeName = "pvc-" + string(c.UID)
	c.Status.Phase = corev1.ClaimBound
}

func ptr[T any](v T) *T { return &v }

// backingCalls records what the controller asked of the host.
type backingCalls struct{ dirs, devices, removed []string }

func (b *backingCalls) Directory(_ context.Context, p string) error {
	b.dirs = append(b.dirs, p)
	return nil
}
func (b *backingCalls) Device(_ context.Context, f string, _ int64) (string, error) {
	b.devices = append(b.devices, f)
	return "/dev/loop7", nil
}
func (b *backingCalls) Remove(_ context.Context, p string) error {
	b.removed = append(b.removed, p)
	return nil
}

func TestVolume(t *testing.T) {
	pv, err := testConfig.Volume(claim("fs"), "/var/lib/volumes/pvc-uid-fs")
	require.NoError(t, err)
	assert.Equal(t, "pvc-uid-fs", pv.Name)
	assert.Equal(t, testConfig.Name, pv.Annotations[AnnProvisionedBy])
	assert.Equal(t, "/var/lib/volumes/pvc-uid-fs", pv.Spec.Local.Path)
	assert.Equal(t, corev1.PersistentVolumeFilesystem, *pv.Spec.VolumeMode)
	assert.Equal(t, types.UID("uid-fs"), pv.Spec.ClaimRef.UID)
	assert.Equal(t, "standard", pv.Spec.StorageClassName)
	assert.Equal(t, []string{"cdi-node"}, pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values)
	q := pv.Spec.Capacity[corev1.ResourceStorage]
	assert.Equal(t, int64(64<<20), q.Value())

	pv, err = testConfig.Volume(claim("raw", block), "/dev/loop3")
	require.NoError(t, err)
	assert.Equal(t, corev1.PersistentVolumeBlock, *pv.Spec.VolumeMode)
	assert.Equal(t, "/var/lib/volumes/pvc-uid-raw.img", pv.Annotations[AnnBackingFile])

	_, err = testConfig.Volume(claim("none", func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }), "/x")
	assert.ErrorContains(t, err, "requests no storage")
}

func TestPass(t *testing.T) {
	released := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-gone", Annotations: map[string]string{AnnProvisionedBy: testConfig.Name}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/var/lib/volumes/pvc-gone"}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased},
	}
	foreign := released.DeepCopy()
	foreign.Name, foreign.Annotations = "pv-foreign", map[string]string{AnnProvisionedBy: "example.com/other"}
	retained := released.DeepCopy()
	retained.Name, retained.Spec.PersistentVolumeReclaimPolicy = "pvc-retained", corev1.PersistentVolumeReclaimRetain

	objs := []runtime.Object{
		claim("fs"), claim("raw", block), claim("theirs", otherProvisioner), claim("done", bound),
		released, foreign, retained,
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	b := &backingCalls{}
	c := New(testConfig, client, factory, b)
	ctx := t.Context()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	require.NoError(t, c.Pass(ctx))
	assert.Equal(t, []string{filepath.Join(testConfig.Dir, "pvc-uid-fs")}, b.dirs)
	assert.Equal(t, []string{filepath.Join(testConfig.Dir, "pvc-uid-raw.img")}, b.devices)
	assert.Equal(t, []string{"/var/lib/volumes/pvc-gone"}, b.removed)

	var created, deleted []string
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "create":
			created = append(created, a.(interface{ GetObject() runtime.Object }).GetObject().(*corev1.PersistentVolume).Name)
		case "delete":
			deleted = append(deleted, a.(interface{ GetName() string }).GetName())
		case "list", "watch":
		default:
			t.Errorf("unexpected action %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	assert.ElementsMatch(t, []string{"pvc-uid-fs", "pvc-uid-raw"}, created)
	assert.Equal(t, []string{"pvc-gone"}, deleted)
	raw, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-uid-raw", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "/dev/loop7", raw.Spec.Local.Path)
}

func TestHostRefusesPathsOutsideItsDir(t *testing.T) {
	h := Host{Dir: t.TempDir()}
	for _, p := range []string{h.Dir, filepath.Dir(h.Dir), "/etc/passwd", filepath.Join(h.Dir, "..", "x")} {
		assert.ErrorContains(t, h.Remove(t.Context(), p), "not inside", p)
		assert.ErrorContains(t, h.Directory(t.Context(), p), "not inside", p)
	}
	p := filepath.Join(h.Dir, "vol")
	require.NoError(t, h.Directory(t.Context(), p))
	require.NoError(t, h.Directory(t.Context(), p), "idempotent")
	require.DirExists(t, p)
	require.NoError(t, h.Remove(t.Context(), p))
	assert.NoDirExists(t, p)
}

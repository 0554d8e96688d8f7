package image

import (
	"archive/tar"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildIsReproducible(t *testing.T) {
	spec := Spec{Entries: NonrootBase(), User: "65532"}
	a, err := Build(spec)
	require.NoError(t, err)
	b, err := Build(spec)
	require.NoError(t, err)
	da, err := a.Digest()
	require.NoError(t, err)
	db, err := b.Digest()
	require.NoError(t, err)
	assert.Equal(t, da, db)

	cf, err := a.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "65532", cf.Config.User)
	assert.Equal(t, "amd64", cf.Architecture)
}

func TestLayerContent(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	require.NoError(t, os.WriteFile(src, []byte("#!/bin/true\n"), 0o755))
	f, err := File(src, "/usr/local/bin/tool")
	require.NoError(t, err)
	layer, err := Layer(append(NonrootBase(), f))
	require.NoError(t, err)
	rc, err := layer.Uncompressed()
	require.NoError(t, err)
	defer rc.Close()

	got := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got[h.Name] = h
	}
	tests := []struct {
		name string
		mode int64
		uid  int
		dir  bool
	}{
		{"usr/", 0o755, 0, true},
		{"usr/local/bin/", 0o755, 0, true},
		{"usr/local/bin/tool", 0o755, 0, false},
		{"etc/passwd", 0o644, 0, false},
		{"tmp/", 0o1777, 0, true},
		{"home/nonroot/", 0o700, NonrootUID, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ok := got[tt.name]
			require.True(t, ok, "missing %s", tt.name)
			assert.Equal(t, tt.mode, h.Mode)
			assert.Equal(t, tt.uid, h.Uid)
			assert.Equal(t, tt.dir, h.Typeflag == tar.TypeDir)
			assert.Zero(t, h.ModTime.Unix())
		})
	}
}

func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	img, err := Build(Spec{Entries: NonrootBase(), Entrypoint: []string{"/bin/x"}})
	require.NoError(t, err)
	ref, err := Push(context.Background(), img, host+"/cluster/base:test")
	require.NoError(t, err)
	want, err := img.Digest()
	require.NoError(t, err)
	assert.Equal(t, want.String(), ref.DigestStr())

	pulled, err := remote.Image(ref)
	require.NoError(t, err)
	got, err := pulled.Digest()
	require.NoError(t, err)
	assert.Equal(t, want, got)

	tag, err := name.NewTag(host+"/cluster/base:test", name.Insecure)
	require.NoError(t, err)
	byTag, err := remote.Image(tag)
	require.NoError(t, err)
	got, err = byTag.Digest()
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

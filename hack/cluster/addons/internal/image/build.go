package image

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec describes an image made of a single layer.
type Spec struct {
	// Entries are the layer's files.
	Entries []Entry
	// Entrypoint is the command run by default; empty for a base image.
	Entrypoint []string
	// User is the user the image runs as, e.g. "65532".
	User string
	// Env holds extra environment variables (KEY=VALUE); PATH is always set.
	Env []string
}

// Build assembles the image described by s for linux/amd64.
func Build(s Spec) (v1.Image, error) {
	layer, err := Layer(s.Entries)
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: epoch},
			CreatedBy: "clusterkit image",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.User = s.User
	cf.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, s.Env...)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return mutate.CreatedAt(img, v1.Time{Time: time.Unix(0, 0).UTC()})
}

// Push uploads img to ref (e.g. 127.0.0.1:5001/cluster/pause:local) over
// plain HTTP and returns the digest reference it can be pulled by.
func Push(ctx context.Context, img v1.Image, ref string) (name.Digest, error) {
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return name.Digest{}, fmt.Errorf("parse %s: %w", ref, err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return name.Digest{}, fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("digest of %s: %w", ref, err)
	}
	return tag.Context().Digest(d.String()), nil
}

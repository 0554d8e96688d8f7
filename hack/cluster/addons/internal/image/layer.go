package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the modification time of every entry, for reproducible layers.
var epoch = time.Unix(0, 0).UTC()

// Entry is one file or directory of a layer.
type Entry struct {
	// Path is the absolute path inside the image.
	Path string
	// Mode holds the permission bits.
	Mode int64
	// UID and GID own the entry.
	UID, GID int
	// Dir makes the entry a directory; Data is then ignored.
	Dir bool
	// Data is the file's content.
	Data []byte
}

// File returns an Entry holding the content of the local file src at dst,
// keeping src's permission bits.
func File(src, dst string) (Entry, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return Entry{}, fmt.Errorf("read %s: %w", src, err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return Entry{}, fmt.Errorf("stat %s: %w", src, err)
	}
	return Entry{Path: dst, Mode: int64(fi.Mode().Perm()), Data: data}, nil
}

// Layer packs entries into one gzip-compressed OCI layer. Parent directories
// are added as needed; entries are written in path order.
func Layer(entries []Entry) (v1.Layer, error) {
	all := map[string]Entry{}
	for _, e := range entries {
		p := path.Clean("/" + e.Path)
		e.Path = p
		all[p] = e
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = Entry{Path: d, Mode: 0o755, Dir: true}
			}
		}
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		e := all[p]
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    e.Mode,
			Uid:     e.UID,
			Gid:     e.GID,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if e.Dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write tar header %s: %w", p, err)
		}
		if !e.Dir {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, fmt.Errorf("write tar entry %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	raw := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}
	return layer, nil
}

package pipeline

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cdi-functions/cdi-functions/pkg/image"
	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// tarLayer is a tar archive holding the one disk image of kubevirt content.
type tarLayer struct {
	tr     *tar.Reader
	name   string
	layers []image.Format
}

// isImageEntry reports whether hdr is a regular file with data: the disk
// image of kubevirt content. Directories, links and empty files (a
// placeholder, a lock file) before or after it are no image.
func isImageEntry(hdr *tar.Header) bool {
	return target.IsRegular(hdr.Typeflag) && hdr.Size > 0
}

// openTarImage positions a tar reader at the archive's disk image: its
// first regular file with data.
func openTarImage(r io.Reader, layers []image.Format) (*tarLayer, error) {
	tr := tar.NewReader(r)
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if entries == 0 {
				return nil, fmt.Errorf("%s is an empty archive: no disk image to import", describe(layers))
			}
			return nil, fmt.Errorf("%s holds no disk image (no regular file with data)", describe(layers))
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", describe(layers), err)
		}
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader, target.TypeGNUVolume:
			continue // metadata; a label is free text, not a path
		case target.TypeGNUMultiVolume:
			return nil, fmt.Errorf("%s is a continuation volume of a multi-volume archive: import the whole archive", describe(layers))
		}
		if _, err := target.CleanEntryName(hdr.Name); err != nil {
			return nil, err
		}
		if isImageEntry(hdr) {
			return &tarLayer{tr: tr, name: hdr.Name, layers: layers}, nil
		}
	}
}

// finish reads the rest of the archive and fails if it holds another
// non-empty file: kubevirt content is one disk image, and silently picking
// one of several would hide a mistake.
func (t *tarLayer) finish() error {
	for {
		hdr, err := t.tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", describe(t.layers), err)
		}
		if isImageEntry(hdr) {
			return fmt.Errorf("%s holds more than one file (%s, %s): kubevirt content is one disk image; use content type archive to extract a tree",
				describe(t.layers), t.name, hdr.Name)
		}
	}
}

// extract unpacks a tar archive into the target directory (content type
// archive).
func (r *run) extract(ctx context.Context, rd io.Reader) (sink, error) {
	x, err := target.Extract(ctx, tar.NewReader(rd), r.req.Target, target.ArchiveOptions{Size: r.req.Size})
	if err != nil {
		return nil, err
	}
	r.result.Path = r.req.Target
	r.result.Size = x.Bytes
	r.result.Written = x.Bytes
	return extraction{x}, nil
}

type extraction struct{ x *target.Extraction }

func (e extraction) commit() error { return e.x.Publish() }
func (e extraction) abort()        { e.x.Abort() }

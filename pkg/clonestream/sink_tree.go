package clonestream

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// errAborted ends an extraction the target gave up.
var errAborted = errors.New("clone aborted")

// treeSink extracts a tree with pkg/target's archive extraction: the
// entries become a tar stream, so every rule of archive imports holds
// (no absolute paths or "..", links that stay inside, no reserved names,
// bounded entries and size, nothing written through a link, a hidden
// staging directory published only when complete). Zero blocks are not
// written, so files stay sparse.
type treeSink struct {
	dir   string
	pw    *io.PipeWriter
	tw    *tar.Writer
	done  chan struct{}
	x     *target.Extraction
	err   error
	zeros []byte
}

func openTreeSink(ctx context.Context, dir string, capacity int64, hdr Header) (*treeSink, error) {
	need := hdr.Size + hdr.Entries*target.EntryCost
	if capacity > 0 && need > capacity {
		return nil, fmt.Errorf("%w: the tree (%d entries of %d bytes each and %d bytes of files) needs %d bytes but the target holds %d",
			target.ErrCapacity, hdr.Entries, target.EntryCost, hdr.Size, need, capacity)
	}
	pr, pw := io.Pipe()
	s := &treeSink{dir: dir, pw: pw, tw: tar.NewWriter(pw), done: make(chan struct{}), zeros: make([]byte, 64<<10)}
	go func() {
		defer close(s.done)
		x, err := target.Extract(ctx, tar.NewReader(pr), dir, target.ArchiveOptions{Size: capacity})
		if err == nil {
			// Anything after the end of the archive is unexpected.
			_, err = io.Copy(io.Discard, pr)
		}
		s.x, s.err = x, err
		if err == nil {
			err = io.ErrClosedPipe
		}
		pr.CloseWithError(err)
	}()
	return s, nil
}

// failed is the extraction's error once it stopped reading, else err.
func (s *treeSink) failed(err error) error {
	select {
	case <-s.done:
		if s.err != nil {
			return s.err
		}
	default:
	}
	return err
}

func (s *treeSink) entry(e Entry) error {
	h := &tar.Header{Name: e.Path, Mode: int64(e.Mode), Size: e.Size, Format: tar.FormatPAX}
	switch e.Type {
	case EntryFile:
		h.Typeflag = tar.TypeReg
	case EntryDir:
		h.Typeflag, h.Name = tar.TypeDir, e.Path+"/"
	case EntrySymlink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
	case EntryHardlink:
		h.Typeflag, h.Linkname = tar.TypeLink, e.Link
	}
	if err := s.tw.WriteHeader(h); err != nil {
		return s.failed(fmt.Errorf("entry %q: %w", e.Path, err))
	}
	return nil
}

func (s *treeSink) data(_ int64, p []byte) error {
	if _, err := s.tw.Write(p); err != nil {
		return s.failed(err)
	}
	return nil
}

func (s *treeSink) hole(_, n int64) error {
	for n > 0 {
		k := min(n, int64(len(s.zeros)))
		if _, err := s.tw.Write(s.zeros[:k]); err != nil {
			return s.failed(err)
		}
		n -= k
	}
	return nil
}

func (s *treeSink) commit() (string, error) {
	err := s.tw.Close()
	if cerr := s.pw.Close(); err == nil {
		err = cerr
	}
	<-s.done
	if s.err != nil {
		return s.dir, s.err
	}
	if err != nil {
		s.x.Abort()
		return s.dir, err
	}
	return s.dir, s.x.Publish()
}

func (s *treeSink) abort() {
	s.pw.CloseWithError(errAborted)
	<-s.done
	if s.x != nil {
		s.x.Abort()
	}
}

func (s *treeSink) written() int64 {
	if s.x == nil {
		return 0
	}
	return s.x.Bytes
}

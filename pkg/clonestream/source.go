package clonestream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// SourceOptions say what a Source sends.
type SourceOptions struct {
	// Path is the source claim: a directory holding disk.img, the
	// directory of a tree, or a block device.
	Path string
	// Tree sends the whole directory (a claim holding an archive import)
	// instead of its disk.img.
	Tree bool
	// Credential is the clone's credential, presented in the hello.
	Credential []byte
	// Compression says when data extents are compressed (default auto).
	Compression Compression
	// Progress receives the logical bytes sent (nil: none).
	Progress progress.Reporter
}

// Source sends one claim, opened read-only, to a Target. Send may be
// called again over a new connection after a TransportError: it resumes
// where the target says it is.
type Source struct {
	opts SourceOptions
	hdr  Header
	// f is an image (disk.img or the device); tree holds a tree.
	f     *os.File
	seek  bool
	tree  *sourceTree
	dig   *Digest
	stats SendStats
}

// SendStats count what a Source sent, over every connection.
type SendStats struct {
	// Data is the logical bytes of data extents sent (holes excluded).
	Data int64
	// Payload is the bytes of their payloads (after compression).
	Payload int64
	// Compressed is the number of data extents sent compressed.
	Compressed int64
	// Resumed is the offset the last connection resumed from.
	Resumed int64
}

// OpenSource opens the source for reading and prepares the stream's
// header (for a tree, by walking it).
func OpenSource(opts SourceOptions) (*Source, error) {
	if opts.Compression == "" {
		opts.Compression = CompressAuto
	}
	if opts.Progress == nil {
		opts.Progress = progress.Discard{}
	}
	id, err := NewStreamID()
	if err != nil {
		return nil, err
	}
	s := &Source{opts: opts, hdr: Header{Stream: id}}
	fi, err := os.Stat(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("clone source %s: %w", opts.Path, err)
	}
	switch {
	case fi.IsDir() && opts.Tree:
		if s.tree, err = walkTree(opts.Path); err != nil {
			return nil, err
		}
		s.hdr.Kind, s.hdr.Size, s.hdr.Entries = KindTree, s.tree.size, int64(len(s.tree.entries))
	case fi.IsDir():
		err = s.openImage(filepath.Join(opts.Path, target.DiskName), KindDisk)
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 && !opts.Tree:
		err = s.openImage(opts.Path, KindBlock)
	default:
		err = fmt.Errorf("clone source %s: want a directory (holding %s, or a tree) or a block device", opts.Path, target.DiskName)
	}
	if err != nil {
		return nil, err
	}
	s.dig = NewDigest(s.hdr)
	return s, nil
}

// openImage opens a disk image or a device read-only.
func (s *Source) openImage(path string, kind Kind) error {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("clone source: %w", err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return fmt.Errorf("clone source %s: size: %w", path, err)
	}
	s.f, s.seek = f, kind == KindDisk
	s.hdr.Kind, s.hdr.Size = kind, size
	return nil
}

// Header is the stream's header.
func (s *Source) Header() Header { return s.hdr }

// Stats is what was sent so far.
func (s *Source) Stats() SendStats { return s.stats }

// Close closes the source.
func (s *Source) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	if s.tree != nil {
		return s.tree.root.Close()
	}
	return nil
}

// Send sends the source over conn (a TLS connection to the target),
// resuming where the target says, and returns when the target published
// the clone (nil), refused it or failed (ErrUnauthorized, ErrRefused),
// or the connection broke (a TransportError: call Send again over a new
// one). wire, if not nil, is conn's TCP connection (CompressAuto watches
// it).
func (s *Source) Send(ctx context.Context, conn io.ReadWriter, wire *Wire) error {
	enc, dec := NewEncoder(conn), NewDecoder(conn)
	if err := enc.Hello(s.opts.Credential); err != nil {
		return err
	}
	if err := enc.Header(s.hdr); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	st, resume, msg, err := dec.Accept()
	if err != nil {
		return err
	}
	switch st {
	case StatusOK:
	case StatusUnauthorized:
		return ErrUnauthorized
	default:
		return fmt.Errorf("%w by the target: %s", ErrRefused, msg)
	}
	if err := s.rewind(resume); err != nil {
		return err
	}
	s.stats.Resumed = resume
	comp, err := newCompressor(s.opts.Compression, wire)
	if err != nil {
		return err
	}
	defer comp.close()
	send := func(base int64) func(extent) error {
		return func(x extent) error {
			if x.data == nil {
				s.dig.Zeros(x.n)
				if err := enc.Hole(x.off, x.n); err != nil {
					return err
				}
			} else {
				s.dig.Data(x.data)
				e, payload := comp.encode(x.data)
				if err := enc.Data(x.off, len(x.data), e, payload); err != nil {
					return err
				}
				s.stats.Data += x.n
				s.stats.Payload += int64(len(payload))
				if e == EncodingZstd {
					s.stats.Compressed++
				}
			}
			s.opts.Progress.Report(progress.Update{Phase: progress.PhaseWriting, Done: base + x.off + x.n, Total: s.hdr.Size})
			return nil
		}
	}
	if s.tree != nil {
		err = s.sendTree(ctx, enc, send)
	} else {
		err = newScanner(s.f, s.hdr.Size, s.seek).scan(ctx, resume, send(0))
	}
	if err != nil {
		return err
	}
	if err := enc.Trailer(s.dig.Sum()); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	st, msg, err = dec.Result()
	switch {
	case err != nil:
		return err
	case st != StatusOK:
		return fmt.Errorf("%w by the target: %s", ErrRefused, msg)
	}
	return nil
}

// rewind prepares the digest for a transfer from resume on.
func (s *Source) rewind(resume int64) error {
	if s.tree != nil {
		if resume != 0 {
			return protocolError("a tree resumed at %d", resume)
		}
		s.dig = NewDigest(s.hdr)
		return nil
	}
	if resume == s.dig.Pos() && resume == 0 {
		return nil
	}
	if err := s.dig.Rewind(resume); err != nil {
		return errors.Join(ErrProtocol, err)
	}
	return nil
}

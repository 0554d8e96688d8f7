package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// spoolDirName is the spool's directory in the scratch directory.
const spoolDirName = ".cdi-upload"

// checkpointBytes is how often a long write is made durable and its
// offset recorded: what a crash of the pod (not only of the connection)
// can lose at most.
const checkpointBytes = 64 << 20

// Spool errors.
var (
	// errChecksum: a chunk did not match its Upload-Checksum; it was
	// discarded.
	errChecksum = errors.New("the chunk does not match its Upload-Checksum")
	// errTooLong: more bytes than the upload's length (or the spool's
	// bound); the excess was discarded.
	errTooLong = errors.New("more bytes than the upload's length")
)

// spoolState is what the spool records about its upload, next to the
// bytes. Offset counts only bytes made durable (fsync) before it was
// recorded.
type spoolState struct {
	// ID names the upload (the claim's UID).
	ID string `json:"id"`
	// Length is the upload's size; -1 while unknown (an async upload
	// without Content-Length).
	Length int64 `json:"length"`
	// Offset is how many bytes are stored durably.
	Offset int64 `json:"offset"`
	// Metadata is the client's Upload-Metadata.
	Metadata map[string]string `json:"metadata,omitempty"`
	// ContentType is the claim's content type (kubevirt or archive).
	ContentType string `json:"contentType,omitempty"`
	// Async: the client was told the upload is received; the pod
	// processes it without a client waiting.
	Async bool `json:"async,omitempty"`
}

// complete reports whether every byte of the upload is stored.
func (s spoolState) complete() bool { return s.Length >= 0 && s.Offset == s.Length }

// spool stores one upload durably in the scratch directory, so that a
// dropped connection or a restarted container loses nothing that was
// acknowledged: bytes are fsynced before the offset that counts them is
// recorded (by an atomic rename), and bytes past the recorded offset are
// cut off when the spool is opened again.
type spool struct {
	dir string
	// max bounds the bytes stored (0: no bound).
	max int64

	mu sync.Mutex
	st *spoolState // nil: no upload
}

// openSpool opens the spool in scratch, recovering an upload a previous
// run of the container left.
func openSpool(scratch string, max int64) (*spool, error) {
	sp := &spool{dir: filepath.Join(scratch, spoolDirName), max: max}
	if err := os.MkdirAll(sp.dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	b, err := os.ReadFile(sp.statePath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		_ = os.Remove(sp.DataPath())
		return sp, nil
	case err != nil:
		return nil, fmt.Errorf("spool: %w", err)
	}
	var st spoolState
	if err := json.Unmarshal(b, &st); err != nil || st.Offset < 0 {
		// A state that cannot be read is no upload: start afresh.
		return sp, sp.remove()
	}
	if err := os.Truncate(sp.DataPath(), st.Offset); err != nil {
		return sp, sp.remove()
	}
	sp.st = &st
	return sp, nil
}

func (sp *spool) statePath() string { return filepath.Join(sp.dir, "state.json") }

// DataPath is the file holding the upload's bytes.
func (sp *spool) DataPath() string { return filepath.Join(sp.dir, "data") }

// state returns the upload's state; ok is false when there is none.
func (sp *spool) state() (spoolState, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.st == nil {
		return spoolState{}, false
	}
	return *sp.st, true
}

// create starts a new upload, replacing any other.
func (sp *spool) create(st spoolState) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	st.Offset = 0
	f, err := os.OpenFile(sp.DataPath(), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := sp.record(st); err != nil {
		return err
	}
	sp.st = &st
	return nil
}

// remove forgets the upload and its bytes.
func (sp *spool) remove() error {
	sp.st = nil
	return errors.Join(ignoreNotExist(os.Remove(sp.statePath())), ignoreNotExist(os.Remove(sp.DataPath())))
}

// drop is remove, locked.
func (sp *spool) drop() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.remove()
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// record writes st atomically and durably.
func (sp *spool) record(st spoolState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	tmp := sp.statePath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("spool: record the offset: %w", err)
	}
	if err := os.Rename(tmp, sp.statePath()); err != nil {
		return fmt.Errorf("spool: record the offset: %w", err)
	}
	d, err := os.Open(sp.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: record the offset: %w", err)
	}
	return nil
}

// setLength fixes the length of an upload whose length was unknown to
// what it holds.
func (sp *spool) setLength() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.st == nil {
		return errors.New("spool: no upload")
	}
	st := *sp.st
	st.Length = st.Offset
	if err := sp.record(st); err != nil {
		return err
	}
	sp.st = &st
	return nil
}

// write appends r at the upload's offset until r ends, stopping at the
// upload's length, and returns the bytes kept. Without a checksum, what
// arrived before r failed is kept (made durable and counted): a dropped
// connection resumes from there. With one (sum, want), the chunk is kept
// only whole and matching, else discarded. progress is called with the
// bytes received so far (durable or not) as they arrive.
func (sp *spool) write(ctx context.Context, r io.Reader, sum hash.Hash, want []byte, progress func(int64)) (int64, error) {
	st, ok := sp.state()
	if !ok {
		return 0, errors.New("spool: no upload")
	}
	f, err := os.OpenFile(sp.DataPath(), os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	start := st.Offset
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	limit := int64(-1)
	if st.Length >= 0 {
		limit = st.Length - start
	}
	if sp.max > 0 && (limit < 0 || start+limit > sp.max) {
		limit = max(sp.max-start, 0)
	}
	var w io.Writer = f
	if sum != nil {
		w = io.MultiWriter(f, sum)
	}
	var n int64
	buf := make([]byte, 1<<20)
	var rerr error
	for rerr == nil {
		if ctx.Err() != nil {
			rerr = ctx.Err()
			break
		}
		m, err := r.Read(buf)
		if m > 0 {
			if limit >= 0 && n+int64(m) > limit {
				m = int(limit - n)
				rerr = errTooLong
			}
			if _, werr := w.Write(buf[:m]); werr != nil {
				rerr = spoolWriteError(werr)
				break
			}
			n += int64(m)
			if progress != nil {
				progress(start + n)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && rerr == nil {
			rerr = err
		}
		if sum == nil && rerr == nil && n/checkpointBytes != (n-int64(m))/checkpointBytes {
			if err := sp.commit(f, start+n); err != nil {
				return n, err
			}
		}
	}
	if sum != nil && (rerr != nil || subtle.ConstantTimeCompare(sum.Sum(nil), want) != 1) {
		// Nothing of a chunk that cannot be verified is kept.
		if err := f.Truncate(start); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		if rerr == nil {
			rerr = errChecksum
		}
		return 0, rerr
	}
	if err := sp.commit(f, start+n); err != nil {
		return n, err
	}
	return n, rerr
}

// spoolWriteError names a full scratch volume as what it means: the
// image is larger than the claim.
func spoolWriteError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: the scratch space is full", target.ErrCapacity)
	}
	return fmt.Errorf("spool: %w", err)
}

// commit makes the bytes up to off durable, then records off.
func (sp *spool) commit(f *os.File, off int64) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.st == nil {
		return errors.New("spool: the upload was replaced")
	}
	st := *sp.st
	st.Offset = off
	if err := sp.record(st); err != nil {
		return err
	}
	sp.st = &st
	return nil
}

// tusMaxSize is the Tus-Max-Size the spool allows ("" when unbounded).
func (sp *spool) tusMaxSize() string {
	if sp.max <= 0 {
		return ""
	}
	return fmt.Sprint(sp.max)
}

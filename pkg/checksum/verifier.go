package checksum

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"hash"
)

// chunk is the size of the buffers handed to the hashing goroutine.
const chunk = 1 << 20

// queue is how many chunks may wait for the hash: the memory bound of the
// pipeline (queue × chunk).
const queue = 8

// Verifier is an io.Writer that hashes what is written to it in a
// goroutine of its own. Write copies the data and returns at once unless
// the hash has fallen queue chunks behind. Call Verify exactly once.
type Verifier struct {
	spec Spec
	h    hash.Hash
	ch   chan []byte
	done chan struct{}
	free chan []byte // recycled buffers
	buf  []byte
	n    int64
}

// NewVerifier starts hashing for spec.
func NewVerifier(spec Spec) *Verifier {
	v := &Verifier{
		spec: spec,
		h:    algorithms[spec.Algorithm].new(),
		ch:   make(chan []byte, queue),
		done: make(chan struct{}),
		free: make(chan []byte, queue+1),
	}
	go v.run()
	return v
}

func (v *Verifier) run() {
	defer close(v.done)
	for b := range v.ch {
		v.h.Write(b)
		select {
		case v.free <- b[:0]:
		default:
		}
	}
}

// Write queues p for hashing. It never fails.
func (v *Verifier) Write(p []byte) (int, error) {
	n := len(p)
	v.n += int64(n)
	for len(p) > 0 {
		if v.buf == nil {
			select {
			case v.buf = <-v.free:
			default:
				v.buf = make([]byte, 0, chunk)
			}
		}
		c := copy(v.buf[len(v.buf):cap(v.buf)], p)
		v.buf = v.buf[:len(v.buf)+c]
		p = p[c:]
		if len(v.buf) == cap(v.buf) {
			v.ch <- v.buf
			v.buf = nil
		}
	}
	return n, nil
}

// Verify waits for the hash to catch up and compares it with the expected
// digest. It returns an error wrapping ErrMismatch when they differ.
func (v *Verifier) Verify() error {
	if v.buf != nil {
		v.ch <- v.buf
		v.buf = nil
	}
	close(v.ch)
	<-v.done
	got := v.h.Sum(nil)
	if !bytes.Equal(got, v.spec.Sum) {
		return fmt.Errorf("%w: %s of %d source bytes is %s, expected %s",
			ErrMismatch, v.spec.Algorithm, v.n, hex.EncodeToString(got), hex.EncodeToString(v.spec.Sum))
	}
	return nil
}

package clonestream

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Encoder writes the frames of the wire format. Its errors are
// TransportErrors: they come from the connection.
type Encoder struct {
	w   *bufio.Writer
	buf []byte
}

// NewEncoder returns an encoder writing to w through a buffer.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: bufio.NewWriterSize(w, 256<<10), buf: make([]byte, 0, 64+2*MaxPath)}
}

func (e *Encoder) write(b []byte) error {
	_, err := e.w.Write(b)
	return transport(err)
}

// Flush sends what is buffered.
func (e *Encoder) Flush() error { return transport(e.w.Flush()) }

// Hello opens the stream with the magic, the version and the credential.
func (e *Encoder) Hello(credential []byte) error {
	if len(credential) == 0 || len(credential) > MaxCredential {
		return fmt.Errorf("credential of %d bytes: want 1 to %d", len(credential), MaxCredential)
	}
	b := append(e.buf[:0], Magic...)
	b = binary.BigEndian.AppendUint16(b, Version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(credential)))
	if err := e.write(b); err != nil {
		return err
	}
	return e.write(credential)
}

// Header sends the stream's header.
func (e *Encoder) Header(h Header) error {
	if err := h.Validate(); err != nil {
		return err
	}
	return e.write(h.append(e.buf[:0]))
}

// Data sends a data extent of n logical bytes at off, as payload in enc.
func (e *Encoder) Data(off int64, n int, enc Encoding, payload []byte) error {
	b := append(e.buf[:0], recordData)
	b = binary.BigEndian.AppendUint64(b, uint64(off))
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, byte(enc))
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	if err := e.write(b); err != nil {
		return err
	}
	return e.write(payload)
}

// Hole describes n bytes of zeros at off.
func (e *Encoder) Hole(off, n int64) error {
	b := append(e.buf[:0], recordHole)
	b = binary.BigEndian.AppendUint64(b, uint64(off))
	return e.write(binary.BigEndian.AppendUint64(b, uint64(n)))
}

// Entry starts a tree entry.
func (e *Encoder) Entry(en Entry) error {
	if err := en.Validate(); err != nil {
		return err
	}
	return e.write(en.append(append(e.buf[:0], recordEntry)))
}

// Trailer ends the stream with the digest of its content.
func (e *Encoder) Trailer(sum [32]byte) error {
	return e.write(append(append(e.buf[:0], recordTrailer), sum[:]...))
}

// Accept answers a header: status, where to resume, why not.
func (e *Encoder) Accept(s Status, resume int64, msg string) error {
	b := append(e.buf[:0], byte(s))
	b = binary.BigEndian.AppendUint64(b, uint64(resume))
	return e.message(b, msg)
}

// Result answers a trailer: published, or why not.
func (e *Encoder) Result(s Status, msg string) error {
	return e.message(append(e.buf[:0], byte(s)), msg)
}

func (e *Encoder) message(b []byte, msg string) error {
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	if err := e.write(append(b, msg...)); err != nil {
		return err
	}
	return e.Flush()
}

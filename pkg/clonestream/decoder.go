package clonestream

import (
	"bufio"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
)

// Decoder reads the frames of the wire format, checking each field
// against the format's bounds before it allocates or reads a payload.
// Errors reading from the connection are TransportErrors; malformed
// frames are ErrProtocol.
type Decoder struct {
	r   *bufio.Reader
	buf [64]byte
}

// NewDecoder returns a decoder reading from r through a buffer.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 256<<10)}
}

func (d *Decoder) read(b []byte) error {
	_, err := io.ReadFull(d.r, b)
	return readError(err)
}

// readError is a read's error as a TransportError; an end of the
// connection anywhere before the stream's end is unexpected.
func readError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return transport(err)
}

// Hello reads the hello and checks its credential against want in
// constant time: ErrUnauthorized when it differs.
func (d *Decoder) Hello(want []byte) error {
	b := d.buf[:len(Magic)+4]
	if err := d.read(b); err != nil {
		return err
	}
	if string(b[:len(Magic)]) != Magic {
		return protocolError("not a clone stream")
	}
	if v := binary.BigEndian.Uint16(b[len(Magic):]); v != Version {
		return protocolError("version %d: this target speaks version %d", v, Version)
	}
	n := int(binary.BigEndian.Uint16(b[len(Magic)+2:]))
	if n == 0 || n > MaxCredential {
		return protocolError("credential of %d bytes", n)
	}
	got := make([]byte, n)
	if err := d.read(got); err != nil {
		return err
	}
	if len(want) == 0 || subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrUnauthorized
	}
	return nil
}

// Header reads the stream's header.
func (d *Decoder) Header() (Header, error) {
	b := d.buf[:headerLen]
	if err := d.read(b); err != nil {
		return Header{}, err
	}
	return parseHeader(b)
}

// record is one record of the stream.
type record struct {
	typ byte
	// off and n: a data or hole extent's logical offset and length.
	off, n int64
	enc    Encoding
	// payload is a data extent's bytes as sent (in the caller's buffer).
	payload []byte
	entry   Entry
	sum     [32]byte
}

// record reads the next record; a data extent's payload goes into buf,
// which must hold ChunkSize bytes.
func (d *Decoder) record(buf []byte) (record, error) {
	t, err := d.r.ReadByte()
	if err != nil {
		return record{}, readError(err)
	}
	rec := record{typ: t}
	switch t {
	case recordData:
		b := d.buf[:17]
		if err := d.read(b); err != nil {
			return rec, err
		}
		rec.off, rec.n = int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint32(b[8:]))
		rec.enc = Encoding(b[12])
		plen := int64(binary.BigEndian.Uint32(b[13:]))
		switch {
		case rec.off < 0:
			return rec, protocolError("data extent at offset %d", uint64(rec.off))
		case rec.n < 1 || rec.n > ChunkSize:
			return rec, protocolError("data extent of %d bytes (want 1 to %d)", rec.n, ChunkSize)
		case rec.enc == EncodingRaw && plen != rec.n:
			return rec, protocolError("raw data extent of %d bytes with a payload of %d", rec.n, plen)
		case rec.enc == EncodingZstd && (plen < 1 || plen >= rec.n):
			return rec, protocolError("compressed data extent of %d bytes with a payload of %d", rec.n, plen)
		case rec.enc != EncodingRaw && rec.enc != EncodingZstd:
			return rec, protocolError("unknown encoding %d", rec.enc)
		}
		rec.payload = buf[:plen]
		return rec, d.read(rec.payload)
	case recordHole:
		b := d.buf[:16]
		if err := d.read(b); err != nil {
			return rec, err
		}
		rec.off, rec.n = int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))
		if rec.off < 0 || rec.n < 1 {
			return rec, protocolError("hole of %d bytes at offset %d", uint64(rec.n), uint64(rec.off))
		}
		return rec, nil
	case recordEntry:
		rec.entry, err = d.entry()
		return rec, err
	case recordTrailer:
		return rec, d.read(rec.sum[:])
	}
	return rec, protocolError("unknown record type %#x", t)
}

func (d *Decoder) entry() (Entry, error) {
	b := d.buf[:15]
	if err := d.read(b); err != nil {
		return Entry{}, err
	}
	e := Entry{Type: EntryType(b[0]), Mode: binary.BigEndian.Uint32(b[1:])}
	size := binary.BigEndian.Uint64(b[5:])
	if size > 1<<62 {
		return e, protocolError("entry size %d", size)
	}
	e.Size = int64(size)
	var err error
	if e.Path, err = d.text(int(binary.BigEndian.Uint16(b[13:]))); err != nil {
		return e, err
	}
	lb := d.buf[:2]
	if err := d.read(lb); err != nil {
		return e, err
	}
	if e.Link, err = d.text(int(binary.BigEndian.Uint16(lb))); err != nil {
		return e, err
	}
	return e, e.Validate()
}

// text reads a path or link of n bytes, at most MaxPath.
func (d *Decoder) text(n int) (string, error) {
	if n > MaxPath {
		return "", protocolError("a path of %d bytes (at most %d)", n, MaxPath)
	}
	b := make([]byte, n)
	if err := d.read(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// Accept reads the target's answer to a header.
func (d *Decoder) Accept() (Status, int64, string, error) {
	b := d.buf[:9]
	if err := d.read(b); err != nil {
		return 0, 0, "", err
	}
	st, resume := Status(b[0]), binary.BigEndian.Uint64(b[1:])
	if resume > 1<<62 {
		return 0, 0, "", protocolError("resume offset %d", resume)
	}
	msg, err := d.message()
	return st, int64(resume), msg, err
}

// Result reads the target's answer to a trailer.
func (d *Decoder) Result() (Status, string, error) {
	s, err := d.r.ReadByte()
	if err != nil {
		return 0, "", readError(err)
	}
	msg, err := d.message()
	return Status(s), msg, err
}

func (d *Decoder) message() (string, error) {
	b := d.buf[:2]
	if err := d.read(b); err != nil {
		return "", err
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > MaxMessage {
		return "", protocolError("a message of %d bytes", n)
	}
	m := make([]byte, n)
	if err := d.read(m); err != nil {
		return "", err
	}
	return string(m), nil
}

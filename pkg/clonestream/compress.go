package clonestream

import (
	"fmt"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Compression says when the source compresses data extents.
type Compression string

// The compression settings.
const (
	// CompressAuto compresses while the connection is what holds the
	// transfer back (writes wait for the peer more than half the time)
	// and the data compresses; otherwise bytes go as they are.
	CompressAuto Compression = "auto"
	// CompressZstd tries every data extent.
	CompressZstd Compression = "zstd"
	// CompressNone never compresses.
	CompressNone Compression = "none"
)

// ParseCompression reads a compression setting.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case CompressAuto, CompressZstd, CompressNone:
		return c, nil
	}
	return "", fmt.Errorf("compression %q: want auto, zstd or none", s)
}

// autoWindow is how many data extents one decision of CompressAuto
// lasts: the share of the window's time spent waiting on writes decides
// the next.
const autoWindow = 16

// compressor encodes data extents for the wire.
type compressor struct {
	mode Compression
	enc  *zstd.Encoder
	out  []byte
	// wire measures the time writes wait (CompressAuto); nil: never.
	wire *Wire
	on   bool
	// count, start and blocked0 delimit the current window.
	count    int
	start    time.Time
	blocked0 time.Duration
	// skip and backoff: after an extent that did not compress, the next
	// backoff-1 extents are sent as they are (backoff doubles up to 64).
	skip, backoff int
}

func newCompressor(mode Compression, wire *Wire) (*compressor, error) {
	c := &compressor{mode: mode, wire: wire, backoff: 1, start: time.Now()}
	if mode == CompressNone || (mode == CompressAuto && wire == nil) {
		c.mode = CompressNone
		return c, nil
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(ChunkSize), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	c.enc, c.out = enc, make([]byte, 0, ChunkSize)
	c.on = mode == CompressZstd
	return c, nil
}

// encode returns how to send p: compressed when that saves at least an
// eighth.
func (c *compressor) encode(p []byte) (Encoding, []byte) {
	if c.mode == CompressNone {
		return EncodingRaw, p
	}
	if c.mode == CompressAuto {
		c.decide()
	}
	if !c.on {
		return EncodingRaw, p
	}
	if c.skip > 0 {
		c.skip--
		return EncodingRaw, p
	}
	c.out = c.enc.EncodeAll(p, c.out[:0])
	if len(c.out) <= len(p)-len(p)/8 {
		c.backoff = 1
		return EncodingZstd, c.out
	}
	c.skip = c.backoff - 1
	c.backoff = min(2*c.backoff, 64)
	return EncodingRaw, p
}

// decide turns compression on for the next window when writes waited
// for more than half of the last one.
func (c *compressor) decide() {
	if c.count++; c.count < autoWindow {
		return
	}
	now, blocked := time.Now(), c.wire.Blocked()
	if wall := now.Sub(c.start); wall > 0 {
		c.on = 2*(blocked-c.blocked0) > wall
	}
	c.count, c.start, c.blocked0 = 0, now, blocked
}

// close releases the encoder.
func (c *compressor) close() {
	if c.enc != nil {
		_ = c.enc.Close()
	}
}

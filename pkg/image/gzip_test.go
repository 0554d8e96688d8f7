package image

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

// gzipWith compresses data with the standard library's writer, which
// writes header fields of any length.
func gzipWith(t testing.TB, hdr stdgzip.Header, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := stdgzip.NewWriter(&buf)
	zw.Header = hdr
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// withHeaderCRC sets FHCRC on a member written without extra fields and
// inserts the header CRC after its fixed and string fields.
func withHeaderCRC(t testing.TB, member []byte, headerLen int) []byte {
	t.Helper()
	hdr := append([]byte(nil), member[:headerLen]...)
	hdr[3] |= gzipFlagHCRC
	sum := make([]byte, 2)
	binary.LittleEndian.PutUint16(sum, uint16(crc32.ChecksumIEEE(hdr)))
	return append(append(hdr, sum...), member[headerLen:]...)
}

func decompressAll(data []byte) ([]byte, error) {
	r, err := Decompress(Gzip, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// TestGzipHeaderFields reads gzip files whose optional header fields are
// longer than compress/gzip's 512-byte limit: gzip(1) reads them, so must
// the importer.
func TestGzipHeaderFields(t *testing.T) {
	tooltest.Need(t, "gzip", "pigz")
	dir := t.TempDir()
	payload := bytes.Repeat([]byte("disk image bytes "), 40000)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "disk.raw"), payload, 0o644))
	tooltest.Sh(t, dir, `pigz -k -c -C "$(head -c 100000 /dev/zero | tr '\0' c)" disk.raw > comment.gz`)
	comment, err := os.ReadFile(filepath.Join(dir, "comment.gz"))
	require.NoError(t, err)

	longName := strings.Repeat("n", 70000)
	named := gzipWith(t, stdgzip.Header{Name: longName}, payload)
	tests := map[string][]byte{
		"pigz comment of 100 kB": comment,
		"name of 70 kB":          named,
		"extra field of 64 KiB":  gzipWith(t, stdgzip.Header{Extra: bytes.Repeat([]byte{'e'}, 65535)}, payload),
		"all fields": gzipWith(t, stdgzip.Header{
			Name: longName, Comment: strings.Repeat("c", 5000), Extra: bytes.Repeat([]byte{'x'}, 30000),
		}, payload),
		"header CRC":         withHeaderCRC(t, gzipWith(t, stdgzip.Header{Name: longName}, payload), 10+len(longName)+1),
		"two members":        append(gzipWith(t, stdgzip.Header{Name: longName}, payload[:1000]), gzipWith(t, stdgzip.Header{Comment: longName}, payload[1000:])...),
		"zero padding after": append(bytes.Clone(named), make([]byte, 3000)...),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			// The real tool agrees that the file is valid.
			p := filepath.Join(t.TempDir(), "f.gz")
			require.NoError(t, os.WriteFile(p, data, 0o644))
			tooltest.Sh(t, filepath.Dir(p), "gzip -t f.gz")

			got, err := decompressAll(data)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, got), "content differs: %d bytes, want %d", len(got), len(payload))
		})
	}
}

func TestGzipRefusesDamage(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 10000)
	good := gzipWith(t, stdgzip.Header{Name: strings.Repeat("n", 1000)}, payload)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-8] ^= 0xff
	badSize := bytes.Clone(good)
	badSize[len(badSize)-1] ^= 0xff
	reserved := bytes.Clone(good)
	reserved[3] |= 0x80
	badHCRC := withHeaderCRC(t, good, 10+1000+1)
	badHCRC[10+1000+1] ^= 0xff
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"name without its NUL", good[:600], io.ErrUnexpectedEOF},
		{"truncated body", good[:len(good)/2], io.ErrUnexpectedEOF},
		{"truncated trailer", good[:len(good)-3], io.ErrUnexpectedEOF},
		{"data CRC", badCRC, gzip.ErrChecksum},
		{"data size", badSize, gzip.ErrChecksum},
		{"reserved flags", reserved, gzip.ErrHeader},
		{"header CRC", badHCRC, gzip.ErrHeader},
		{"garbage after the member", append(bytes.Clone(good), "garbage"...), gzip.ErrHeader},
		// gzip(1) would ignore the second member, with a warning.
		{"member after zero padding", append(append(bytes.Clone(good), make([]byte, 512)...), good...), gzip.ErrHeader},
		{"only the magic", []byte{0x1f, 0x8b, 0x08}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decompressAll(tt.data)
			require.ErrorIs(t, err, tt.want)
		})
	}
}

// BenchmarkGzip measures the decoder on compressible data.
func BenchmarkGzip(b *testing.B) {
	payload := bytes.Repeat([]byte("kubevirt disk image cluster data \x00\x01\x02"), 1<<16)
	data := gzipWith(b, stdgzip.Header{}, payload)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		r, err := Decompress(Gzip, bytes.NewReader(data))
		require.NoError(b, err)
		_, err = io.Copy(io.Discard, r)
		require.NoError(b, err)
		r.Close()
	}
}

//go:build cgo

package xz

/*
#cgo LDFLAGS: -llzma
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

// Allocations of at least XZ_MMAP_MIN bytes (liblzma's dictionaries and
// per-thread block buffers) are mapped and unmapped directly, so freed memory
// goes back to the system at once: glibc's malloc would keep it in per-thread
// arenas, and the process's RSS would outgrow the memory limit.
#define XZ_MMAP_MIN (1 << 20)
#define XZ_HEADER 16

static void *xz_alloc(void *opaque, size_t nmemb, size_t size) {
	(void)opaque;
	if (size != 0 && nmemb > (SIZE_MAX - XZ_HEADER) / size) {
		return NULL;
	}
	size_t n = nmemb * size + XZ_HEADER;
	unsigned char *p;
	if (n >= XZ_MMAP_MIN) {
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			return NULL;
		}
	} else {
		p = malloc(n);
		if (p == NULL) {
			return NULL;
		}
	}
	memcpy(p, &n, sizeof(n));
	return p + XZ_HEADER;
}

static void xz_free(void *opaque, void *ptr) {
	(void)opaque;
	if (ptr == NULL) {
		return;
	}
	unsigned char *p = (unsigned char *)ptr - XZ_HEADER;
	size_t n;
	memcpy(&n, p, sizeof(n));
	if (n >= XZ_MMAP_MIN) {
		munmap(p, n);
	} else {
		free(p);
	}
}

static const lzma_allocator xz_allocator = { xz_alloc, xz_free, NULL };

// xz_init prepares a calloc'ed stream for liblzma's threaded decoder, reading
// concatenated streams and reporting unverifiable integrity checks.
static lzma_ret xz_init(lzma_stream *s, uint32_t threads, uint64_t memlimit) {
	s->allocator = &xz_allocator;
	lzma_mt mt;
	memset(&mt, 0, sizeof(mt));
	mt.flags = LZMA_CONCATENATED | LZMA_TELL_UNSUPPORTED_CHECK;
	mt.threads = threads;
	mt.timeout = 0;
	mt.memlimit_threading = memlimit;
	mt.memlimit_stop = memlimit;
	return lzma_stream_decoder_mt(s, &mt);
}

typedef struct {
	lzma_ret ret;
	size_t written;
} xz_result;

// xz_code decodes into out, a buffer owned by Go: the stream holds the
// pointer only for the duration of this call, as cgo's rules require.
static xz_result xz_code(lzma_stream *s, uint8_t *out, size_t out_len, int finish) {
	xz_result r;
	s->next_out = out;
	s->avail_out = out_len;
	r.ret = lzma_code(s, finish ? LZMA_FINISH : LZMA_RUN);
	r.written = out_len - s->avail_out;
	s->next_out = NULL;
	s->avail_out = 0;
	return r;
}
*/
import "C"

import (
	"fmt"
	"io"
	"unsafe"
)

// inBufSize is the size of the C buffer compressed input is read into.
const inBufSize = 1 << 20

// maxEmptyReads bounds consecutive (0, nil) reads from the source, as
// bufio does, so a broken source cannot spin a Read forever.
const maxEmptyReads = 100

// NewReader returns a reader of the decompressed content of the xz data in r:
// one or more concatenated streams, each of one or more blocks, with optional
// stream padding. Errors from the returned reader wrap one of this package's
// sentinel errors, or the error r returned. Close releases liblzma's threads
// and memory and must be called (there is no finalizer); it does not close r.
// The reader is not safe for concurrent use.
func NewReader(r io.Reader, opts Options) (io.ReadCloser, error) {
	return newLibLZMA(r, opts)
}

// Implementation names the decoder compiled in, with the number of threads
// it uses by default.
func Implementation() string {
	o, _ := Options{}.resolved()
	return fmt.Sprintf("liblzma %s (cgo, %d threads)", C.GoString(C.lzma_version_string()), o.Threads)
}

// libLZMAReader decodes with liblzma. Its stream and input buffer live in C
// memory; output is decoded straight into the caller's buffer.
type libLZMAReader struct {
	src    io.Reader
	strm   *C.lzma_stream
	in     *C.uint8_t
	inBuf  []byte // the C buffer in, seen from Go
	readIn int64  // compressed bytes read from src
	srcEOF bool
	err    error  // sticky: io.EOF after the end, or the first failure
	limit  uint64 // Options.MemLimit, for messages
}

// newLibLZMA returns a liblzma decoder reading r.
func newLibLZMA(r io.Reader, opts Options) (*libLZMAReader, error) {
	opts, err := opts.resolved()
	if err != nil {
		return nil, err
	}
	d := &libLZMAReader{
		src:   r,
		strm:  (*C.lzma_stream)(C.calloc(1, C.size_t(unsafe.Sizeof(C.lzma_stream{})))),
		in:    (*C.uint8_t)(C.malloc(inBufSize)),
		limit: opts.MemLimit,
	}
	if d.strm == nil || d.in == nil {
		d.free()
		return nil, fmt.Errorf("xz: allocate decoder: out of memory")
	}
	d.inBuf = unsafe.Slice((*byte)(unsafe.Pointer(d.in)), inBufSize)
	if ret := C.xz_init(d.strm, C.uint32_t(opts.Threads), C.uint64_t(opts.MemLimit)); ret != C.LZMA_OK {
		err := d.errorFor(ret)
		C.lzma_end(d.strm)
		d.free()
		return nil, fmt.Errorf("initialize liblzma decoder: %w", err)
	}
	return d, nil
}

// Read decodes into p. It returns io.EOF only after the last stream ended
// exactly at the end of the input.
func (d *libLZMAReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	empty := 0
	for {
		if d.strm.avail_in == 0 && !d.srcEOF {
			n, err := d.src.Read(d.inBuf)
			d.readIn += int64(n)
			d.strm.next_in = d.in
			d.strm.avail_in = C.size_t(n)
			switch {
			case err == io.EOF:
				d.srcEOF = true
			case err != nil:
				d.err = fmt.Errorf("read xz input at byte %d: %w", d.readIn, err)
				return 0, d.err
			case n == 0:
				if empty++; empty >= maxEmptyReads {
					d.err = fmt.Errorf("read xz input at byte %d: %w", d.readIn, io.ErrNoProgress)
					return 0, d.err
				}
				continue
			}
			empty = 0
			if d.srcEOF && d.readIn == 0 {
				d.err = fmt.Errorf("%w: the input is empty", ErrTruncated)
				return 0, d.err
			}
		}
		finish := C.int(0)
		if d.srcEOF {
			finish = 1
		}
		res := C.xz_code(d.strm, (*C.uint8_t)(unsafe.Pointer(&p[0])), C.size_t(len(p)), finish)
		n := int(res.written)
		switch res.ret {
		case C.LZMA_OK:
			if n > 0 {
				return n, nil
			}
		case C.LZMA_STREAM_END:
			d.err = io.EOF
			return n, d.err
		default:
			d.err = fmt.Errorf("%w (after reading %d compressed bytes, %d decompressed)",
				d.errorFor(res.ret), uint64(d.strm.total_in), uint64(d.strm.total_out))
			return n, d.err
		}
	}
}

// Close releases liblzma's threads and memory. It is safe to call more than
// once; Reads after Close fail with ErrClosed.
func (d *libLZMAReader) Close() error {
	if d.strm != nil {
		C.lzma_end(d.strm)
	}
	d.free()
	d.err = ErrClosed
	return nil
}

// free releases the C memory of d.
func (d *libLZMAReader) free() {
	C.free(unsafe.Pointer(d.strm))
	C.free(unsafe.Pointer(d.in))
	d.strm, d.in, d.inBuf = nil, nil, nil
}

// errorFor maps a liblzma failure to this package's errors.
func (d *libLZMAReader) errorFor(ret C.lzma_ret) error {
	switch ret {
	case C.LZMA_FORMAT_ERROR:
		return ErrFormat
	case C.LZMA_DATA_ERROR:
		return ErrCorrupt
	case C.LZMA_BUF_ERROR:
		return ErrTruncated
	case C.LZMA_MEMLIMIT_ERROR:
		return fmt.Errorf("%w: a stream needs more than the limit of %d MiB even on one thread", ErrMemLimit, d.limit>>20)
	case C.LZMA_OPTIONS_ERROR:
		return fmt.Errorf("%w: a filter or option is not supported by liblzma", ErrUnsupported)
	case C.LZMA_UNSUPPORTED_CHECK:
		return fmt.Errorf("%w: the integrity check type is not supported", ErrUnsupported)
	case C.LZMA_MEM_ERROR:
		return fmt.Errorf("xz: liblzma: out of memory")
	default:
		return fmt.Errorf("xz: liblzma: unexpected return code %d", int(ret))
	}
}

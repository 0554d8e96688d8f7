package xz

import (
	"fmt"
	"runtime"
)

// DefaultMemLimit is the memory budget of a decoder when Options.MemLimit is
// zero. It lets liblzma decode two blocks of an `xz -T` file made with the
// default preset (-6: 8 MiB dictionary, 24 MiB blocks) in parallel, and a
// single-threaded stream with up to a 64 MiB dictionary (`xz -9`), while
// keeping the data mover's peak RSS under 200 MiB.
const DefaultMemLimit = 128 << 20

// maxThreads bounds Options.Threads; liblzma's own limit is 16384.
const maxThreads = 256

// Options tunes a decoder. The zero value is ready to use.
type Options struct {
	// Threads is the most blocks decoded in parallel (liblzma only; a stream
	// with a single block, or without sizes in its block headers, decodes on
	// one thread). Zero means runtime.GOMAXPROCS(0).
	Threads int
	// MemLimit is the decoder's memory budget in bytes. liblzma decodes on
	// fewer threads to stay within it, and a stream that does not fit even
	// single-threaded fails with ErrMemLimit. The pure-Go decoder applies it
	// to the dictionary size. Zero means DefaultMemLimit.
	MemLimit uint64
}

// resolved returns the options with defaults filled in, or an error for
// values out of range.
func (o Options) resolved() (Options, error) {
	if o.Threads < 0 || o.Threads > maxThreads {
		return o, fmt.Errorf("xz: threads %d out of range [0, %d]", o.Threads, maxThreads)
	}
	if o.Threads == 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	if o.MemLimit == 0 {
		o.MemLimit = DefaultMemLimit
	}
	return o, nil
}

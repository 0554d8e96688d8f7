// Package bench holds the data-path benchmark behind `make bench`: the
// datamover binary imports one generated disk image in every format the
// issue names, and the reference tools (qemu-img, curl, pigz, xz, zstd) do
// the same job in the same run, so that the ratios hold on a shared, noisy
// machine. See docs/performance.md for what each case measures.
//
// The package has no code outside its tests; go test -bench runs it.
package bench

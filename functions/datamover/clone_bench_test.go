package main

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/clonestream"
)

// benchCloneFixture writes a sparse image of size bytes cut in 1 MiB
// extents, a seeded 30% of which hold data (half random bytes, half
// text-like), the rest holes; it returns the path and the data bytes.
func benchCloneFixture(b *testing.B, dir string, size int64) (string, int64) {
	b.Helper()
	p := filepath.Join(dir, "disk.img")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	words := []string{"volume", "claim", "clone", "kernel", "sector", "image", "namespace", "pod", "the", "a", "of", "data", "block", "node"}
	buf := make([]byte, 1<<20)
	var data int64
	for off := int64(0); off < size; off += 1 << 20 {
		if r.Float64() >= 0.3 {
			continue
		}
		if r.Intn(2) == 0 {
			r.Read(buf)
		} else {
			for i := 0; i < len(buf); {
				w := words[r.Intn(len(words))]
				i += copy(buf[i:], w+" ")
			}
		}
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			b.Fatal(err)
		}
		data += n
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return p, data
}

// benchCloneOnce clones dir over loopback TCP with TLS, as the two
// commands do, and returns the bytes the source wrote to the connection.
func benchCloneOnce(b *testing.B, files cloneFiles, src, dst, compress string) int64 {
	b.Helper()
	ctx := context.Background()
	tf := cloneTargetFlags{target: dst, credentialFile: files.credential, tlsCert: files.cert, tlsKey: files.key, idle: time.Minute}
	tcfg, err := tf.config()
	if err != nil {
		b.Fatal(err)
	}
	sf := cloneSourceFlags{source: src, contentType: "kubevirt", targetAddress: "127.0.0.1:1", credentialFile: files.credential,
		tlsCA: files.ca, tlsServerName: files.serverName, compress: compress}
	scfg, err := sf.config()
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	terr := make(chan error, 1)
	go func() {
		_, err := serveClone(ctx, ln, tcfg, 30*time.Second, time.Minute, os.Stderr)
		terr <- err
	}()
	s, err := clonestream.OpenSource(scfg.opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	wired, err := sendClone(ctx, s, ln.Addr().String(), scfg.tls, 30*time.Second, 0, os.Stderr)
	if err != nil {
		b.Fatal(err)
	}
	if err := <-terr; err != nil {
		b.Fatal(err)
	}
	return wired
}

func timeIt(b *testing.B, f func()) time.Duration {
	b.Helper()
	t := time.Now()
	f()
	return time.Since(t)
}

func shB(b *testing.B, script string) {
	b.Helper()
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		b.Fatalf("%s: %v: %s", script, err, out)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkCloneLocal clones a sparse image (CDI_BENCH_SIZE, default 2
// GiB, 30% data) over loopback TCP with TLS, and in the same run copies
// it with cp --sparse=always, as is and followed by sync of the copy (the
// clone fsyncs before it publishes). Every iteration runs each once, in
// a rotating order, from a warm page cache, after a sync. Reported:
// medians, the ratios to cp, and the bytes on the wire per byte of data.
func BenchmarkCloneLocal(b *testing.B) {
	size := int64(2 << 30)
	if s := os.Getenv("CDI_BENCH_SIZE"); s != "" {
		n, err := parseSize(s)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	dir := b.TempDir()
	srcDir := filepath.Join(dir, "src")
	if err := os.Mkdir(srcDir, 0o755); err != nil {
		b.Fatal(err)
	}
	img, data := benchCloneFixture(b, srcDir, size)
	files := newCloneFiles(b)
	for _, compress := range []string{"auto", "none"} {
		b.Run("compress="+compress, func(b *testing.B) {
			var ours, cp, cpSync []time.Duration
			var wired int64
			dst := filepath.Join(dir, "dst")
			cpOut := filepath.Join(dir, "cp.img")
			runs := map[string]func(){
				"ours": func() {
					if err := os.Mkdir(dst, 0o755); err != nil {
						b.Fatal(err)
					}
					var w int64
					ours = append(ours, timeIt(b, func() { w = benchCloneOnce(b, files, srcDir, dst, compress) }))
					wired = w
					sameSparse(b, img, filepath.Join(dst, "disk.img"))
				},
				"cp": func() { cp = append(cp, timeIt(b, func() { shB(b, "cp --sparse=always "+img+" "+cpOut) })) },
				"cp+sync": func() {
					cpSync = append(cpSync, timeIt(b, func() { shB(b, "cp --sparse=always "+img+" "+cpOut+" && sync "+cpOut) }))
				},
			}
			order := []string{"ours", "cp", "cp+sync"}
			for i := 0; i < b.N; i++ {
				for _, name := range order {
					b.StopTimer()
					shB(b, "rm -rf "+dst+" "+cpOut+" && sync && cat "+img+" > /dev/null")
					b.StartTimer()
					runs[name]()
				}
				order = append(order[1:], order[0])
			}
			b.StopTimer()
			shB(b, "rm -rf "+dst+" "+cpOut)
			o, c, cs := median(ours), median(cp), median(cpSync)
			b.ReportMetric(o.Seconds(), "ours-s")
			b.ReportMetric(c.Seconds(), "cp-s")
			b.ReportMetric(cs.Seconds(), "cp+sync-s")
			b.ReportMetric(o.Seconds()/c.Seconds(), "x-cp")
			b.ReportMetric(o.Seconds()/cs.Seconds(), "x-cp+sync")
			b.ReportMetric(float64(wired)/float64(data), "wire/data")
			fmt.Printf("clone %s (compress=%s, %s data): ours %.2fs, cp --sparse=always %.2fs (%.2fx), cp+sync %.2fs (%.2fx); wire %d B for %d B of data (%.4fx)\n",
				strconv.FormatInt(size>>20, 10)+"MiB", compress, strconv.FormatInt(data>>20, 10)+"MiB", o.Seconds(), c.Seconds(), o.Seconds()/c.Seconds(),
				cs.Seconds(), o.Seconds()/cs.Seconds(), wired, data, float64(wired)/float64(data))
		})
	}
}

// sameSparse checks the clone byte for byte (cmp) and that it stores no
// more than the source.
func sameSparse(b *testing.B, src, dst string) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	shB(b, "cmp "+src+" "+dst)
	var s1, s2 struct{ blocks int64 }
	for i, p := range []string{src, dst} {
		out, err := exec.Command("stat", "-c", "%b", p).Output()
		if err != nil {
			b.Fatal(err)
		}
		n, _ := strconv.ParseInt(string(out[:len(out)-1]), 10, 64)
		if i == 0 {
			s1.blocks = n
		} else {
			s2.blocks = n
		}
	}
	if s2.blocks > s1.blocks {
		b.Fatalf("the clone stores %d blocks, the source %d: holes were filled", s2.blocks, s1.blocks)
	}
}

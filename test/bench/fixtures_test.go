package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// extent is the unit of the generated disk: each MiB is zeros (a hole in
// disk.raw) or data.
const extent = 1 << 20

// dataPercent is the share of extents holding data: half of them random
// (incompressible, like media or encrypted files), half text-like
// (compressible, like logs, source or binaries). With random data alone a
// compressed qcow2 would hold no compressed cluster and gzip, xz and zstd
// would only copy stored blocks: the decoders would not be measured.
const dataPercent = 30

// generatorVersion is part of the cache key: bump it when the image or the
// commands that make the fixtures change, so that stale files are not reused.
const generatorVersion = "v2"

// imageSpec is the generated disk: size bytes, the data extents chosen by seed.
type imageSpec struct {
	size int64
	seed uint64
}

// key names the spec's cache directory.
func (s imageSpec) key() string {
	return fmt.Sprintf("%s-seed%d-%dMiB", generatorVersion, s.seed, s.size/extent)
}

// dataExtents returns the sorted indices of the extents that hold random
// data and of those that hold text: dataPercent of all extents together, a
// seeded permutation's first ones, alternately random and text.
func (s imageSpec) dataExtents() (random, text []int) {
	n := int(s.size / extent)
	r := rand.New(rand.NewPCG(s.seed, s.seed^0x9e3779b97f4a7c15))
	for i, e := range r.Perm(n)[:n*dataPercent/100] {
		if i%2 == 0 {
			random = append(random, e)
		} else {
			text = append(text, e)
		}
	}
	slices.Sort(random)
	slices.Sort(text)
	return random, text
}

// writeRaw writes the disk as a sparse raw file: holes for zero extents.
func (s imageSpec) writeRaw(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], s.seed)
	rng := rand.NewChaCha8(seed)
	vocab := vocabulary(rand.New(rand.NewPCG(s.seed, 0x5eed)))
	buf := make([]byte, extent)
	random, text := s.dataExtents()
	write := func(i int) error {
		if _, err := f.WriteAt(buf, int64(i)*extent); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	for _, i := range random {
		_, _ = rng.Read(buf) // never fails
		if err := write(i); err != nil {
			f.Close()
			return err
		}
	}
	for _, i := range text {
		fillText(buf, rand.New(rand.NewPCG(s.seed, uint64(i))), vocab)
		if err := write(i); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Truncate(s.size); err != nil {
		f.Close()
		return fmt.Errorf("size %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// vocabulary returns 4096 random lower-case words of 2 to 12 letters.
func vocabulary(r *rand.Rand) [][]byte {
	words := make([][]byte, 4096)
	for i := range words {
		w := make([]byte, 2+r.IntN(11))
		for j := range w {
			w[j] = 'a' + byte(r.IntN(26))
		}
		words[i] = w
	}
	return words
}

// fillText fills buf with words of vocab in random order, separated by
// spaces, with a line break now and then and a number among the words:
// data that gzip shrinks to about a third.
func fillText(buf []byte, r *rand.Rand, vocab [][]byte) {
	n := 0
	for n < len(buf) {
		switch k := r.IntN(16); {
		case k == 0:
			n += copy(buf[n:], strconv.AppendUint(nil, r.Uint64N(1<<20), 10))
		default:
			n += copy(buf[n:], vocab[r.IntN(len(vocab))])
		}
		if n < len(buf) {
			if r.IntN(10) == 0 {
				buf[n] = '\n'
			} else {
				buf[n] = ' '
			}
			n++
		}
	}
}

// rawName is the file name of the raw disk in the cache.
const rawName = "disk.raw"

// fixture is one format of the disk, made from disk.raw by a tool.
type fixture struct {
	name   string   // file name in the cache
	tools  []string // programs the script runs
	script string   // bash script reading $IN (disk.raw) and writing $OUT
}

// fixtures are the formats the cases read. They are independent, so they
// are made in parallel; the multithreaded tools get two threads.
func fixtures() []fixture {
	return []fixture{
		{"disk.raw.xz", []string{"xz"}, `xz -T1 -6 -c "$IN" > "$OUT"`}, // one block: the slowest, start it first
		{"disk-mb.raw.xz", []string{"xz"}, `xz -T2 -6 -c "$IN" > "$OUT"`},
		{"disk-c.qcow2", []string{"qemu-img"}, `qemu-img convert -q -c -f raw -O qcow2 "$IN" "$OUT"`},
		{"disk.raw.gz", []string{"pigz"}, `pigz -p 2 -6 -c "$IN" > "$OUT"`},
		{"disk.raw.zst", []string{"zstd"}, `zstd -q -T2 -3 -c "$IN" > "$OUT"`},
		{"disk.qcow2", []string{"qemu-img"}, `qemu-img convert -q -f raw -O qcow2 "$IN" "$OUT"`},
	}
}

// fixtureSet is the cache directory of one spec and what is in it.
type fixtureSet struct {
	spec    imageSpec
	dir     string
	missing map[string]string // fixture name → why it is not there
}

// path is where the named fixture is.
func (fs *fixtureSet) path(name string) string { return filepath.Join(fs.dir, name) }

// cacheRoot is $CDI_BENCH_CACHE, or /var/tmp/cdi-functions-bench: outside
// the repository, and kept across runs because making the xz files of a
// 2 GiB image takes minutes.
func cacheRoot() string {
	if d := os.Getenv("CDI_BENCH_CACHE"); d != "" {
		return d
	}
	return "/var/tmp/cdi-functions-bench"
}

// prepareFixtures makes the fixtures of spec that are not cached yet.
// Every file appears under its name only once complete (written under a
// temporary name, then renamed), so an interrupted run leaves nothing that
// a later one would reuse. A fixture whose tool is missing is recorded in
// missing; the cases that need it skip.
func prepareFixtures(ctx context.Context, spec imageSpec, logf func(string, ...any)) (*fixtureSet, error) {
	fs := &fixtureSet{spec: spec, dir: filepath.Join(cacheRoot(), spec.key()), missing: map[string]string{}}
	if err := os.MkdirAll(fs.dir, 0o755); err != nil {
		return nil, fmt.Errorf("fixture cache: %w", err)
	}
	raw := fs.path(rawName)
	if _, err := os.Stat(raw); err != nil {
		logf("generating %s (%d MiB, %d%% data in 1 MiB extents, seed %d) in %s", rawName, spec.size/extent, dataPercent, spec.seed, fs.dir)
		tmp := raw + ".tmp"
		if err := spec.writeRaw(tmp); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, raw); err != nil {
			return nil, fmt.Errorf("fixture cache: %w", err)
		}
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, fx := range fixtures() {
		out := fs.path(fx.name)
		if _, err := os.Stat(out); err == nil {
			continue
		}
		if tool, ok := missingTool(fx.tools...); !ok {
			fs.missing[fx.name] = tool + " is not installed"
			continue
		}
		logf("generating %s", fx.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tmp := out + ".tmp"
			cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", fx.script)
			cmd.Env = append(os.Environ(), "IN="+raw, "OUT="+tmp)
			if msg, err := cmd.CombinedOutput(); err != nil {
				os.Remove(tmp)
				mu.Lock()
				errs = append(errs, fmt.Errorf("make %s: %s: %w\n%s", fx.name, fx.script, err, msg))
				mu.Unlock()
				return
			}
			if err := os.Rename(tmp, out); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("fixture cache: %w", err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return fs, errors.Join(errs...)
}

// missingTool returns the first of tools not on PATH, and false, or "" and
// true when all are there.
func missingTool(tools ...string) (string, bool) {
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return t, false
		}
	}
	return "", true
}

// xzBlocks counts the blocks of an xz file (xz --robot --list).
func xzBlocks(path string) (int, error) {
	out, err := exec.Command("xz", "--robot", "--list", path).Output()
	if err != nil {
		return 0, fmt.Errorf("xz --list %s: %w", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) > 2 && f[0] == "file" {
			return strconv.Atoi(f[2])
		}
	}
	return 0, fmt.Errorf("xz --list %s: no file line in %q", path, out)
}

// sameContent reports whether the file at got holds exactly the bytes of
// the file at want, reading both in 1 MiB pieces.
func sameContent(want, got string) error {
	a, err := os.Open(want)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := os.Open(got)
	if err != nil {
		return err
	}
	defer b.Close()
	sa, err := a.Stat()
	if err != nil {
		return err
	}
	sb, err := b.Stat()
	if err != nil {
		return err
	}
	if sa.Size() != sb.Size() {
		return fmt.Errorf("%s is %d bytes, want %d", got, sb.Size(), sa.Size())
	}
	ba, bb := make([]byte, extent), make([]byte, extent)
	for off := int64(0); off < sa.Size(); off += extent {
		n := min(extent, sa.Size()-off)
		if _, err := a.ReadAt(ba[:n], off); err != nil {
			return fmt.Errorf("read %s at %d: %w", want, off, err)
		}
		if _, err := b.ReadAt(bb[:n], off); err != nil {
			return fmt.Errorf("read %s at %d: %w", got, off, err)
		}
		if !bytes.Equal(ba[:n], bb[:n]) {
			return fmt.Errorf("%s differs from %s in the MiB at %d", got, want, off)
		}
	}
	return nil
}

// parseSize reads CDI_BENCH_SIZE: bytes, or a number with a Ki, Mi or Gi
// suffix; it must be a positive multiple of 1 MiB, at least 16 MiB.
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<42)/mult {
		return 0, fmt.Errorf("CDI_BENCH_SIZE=%q: want a size like 2Gi or 256Mi", s)
	}
	n *= mult
	if n%extent != 0 || n < 16*extent {
		return 0, fmt.Errorf("CDI_BENCH_SIZE=%q: want a multiple of 1Mi, at least 16Mi", s)
	}
	return n, nil
}

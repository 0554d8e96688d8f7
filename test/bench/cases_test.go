package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// access is how ours (and the reference, where it reads the same URL) gets
// the fixture.
type access int

const (
	localFile   access = iota // a path
	rangeHTTP                 // loopback Go file server with ranges
	noRangeHTTP               // loopback server that ignores Range
)

// reference is one way of doing a case's job with the reference tools.
type reference struct {
	key   string // short name, used in metric units
	label string // for the table
	tools []string
	// script is run by bash with $FILE (the fixture's path), $URL (the URL
	// ours reads, or the path for local cases), $OUT (the output file) and
	// $SCRATCH (an empty directory).
	script string
	// flushes says whether the reference makes its output durable as ours
	// does (ours fsyncs disk.img before renaming it into place): only then
	// is the comparison like for like.
	flushes bool
	// target is the largest acceptable ours/reference wall-time ratio.
	target float64
	// targetNote explains the target where a ratio is not how the issue
	// states it.
	targetNote string
}

// benchCase is one import and the references it is compared with.
type benchCase struct {
	name    string
	fixture string
	via     access
	scratch bool // give ours --scratch
	refs    []reference
}

// CDI's importer downloads an image it cannot stream to scratch space and
// converts it with qemu-img convert -t writeback (which flushes at the end).
func cdiWay(target float64) []reference {
	const fetch = `curl -sf -o "$SCRATCH/scratch.qcow2" "$URL" && `
	return []reference{{
		key:     "cdi",
		label:   "CDI's way: curl → scratch, `qemu-img convert -t writeback -O raw`",
		tools:   []string{"curl", "qemu-img"},
		script:  fetch + `qemu-img convert -t writeback -O raw "$SCRATCH/scratch.qcow2" "$OUT"`,
		flushes: true,
		target:  target,
	}, {
		key:     "cdi-nosync",
		label:   "curl → scratch, `qemu-img convert -O raw` (default cache, no flush)",
		tools:   []string{"curl", "qemu-img"},
		script:  fetch + `qemu-img convert -O raw "$SCRATCH/scratch.qcow2" "$OUT"`,
		flushes: false,
		target:  target,
	}}
}

// localQemu converts the fixture file with qemu-img, flushing (-t
// writeback, CDI's setting) and not (the default cache mode, unsafe).
func localQemu(target float64) []reference {
	return []reference{{
		key:     "qemu",
		label:   "local `qemu-img convert -t writeback -O raw`",
		tools:   []string{"qemu-img"},
		script:  `qemu-img convert -t writeback -O raw "$FILE" "$OUT"`,
		flushes: true,
		target:  target,
	}, {
		key:     "qemu-nosync",
		label:   "local `qemu-img convert -O raw` (default cache, no flush)",
		tools:   []string{"qemu-img"},
		script:  `qemu-img convert -O raw "$FILE" "$OUT"`,
		flushes: false,
		target:  target,
	}}
}

// redirect runs a tool writing $OUT (with shell redirection: not sparse),
// as is and followed by `sync $OUT` (fsync), which makes it like for like.
// shown is cmd as the table shows it.
func redirect(key, tool, cmd, shown string, target float64, note string) []reference {
	return []reference{{
		key:        key,
		label:      "`" + shown + "`",
		tools:      []string{tool},
		script:     cmd,
		target:     target,
		targetNote: note,
	}, {
		key:        key + "-sync",
		label:      "`" + shown + " && sync out`",
		tools:      []string{tool, "sync"},
		script:     cmd + ` && sync "$OUT"`,
		flushes:    true,
		target:     target,
		targetNote: note,
	}}
}

// benchCases are the cases of the issue, in its order.
func benchCases() []benchCase {
	return []benchCase{
		{name: "qcow2-http", fixture: "disk.qcow2", via: rangeHTTP,
			refs: append(cdiWay(0.5), localQemu(1.0)...)},
		{name: "qcow2c-http", fixture: "disk-c.qcow2", via: rangeHTTP,
			refs: localQemu(1.2)},
		{name: "qcow2-norange", fixture: "disk.qcow2", via: noRangeHTTP, scratch: true,
			refs: cdiWay(1.1)},
		{name: "raw-http", fixture: rawName, via: rangeHTTP,
			refs: redirect("curl", "curl", `curl -sf -o "$OUT" "$URL"`, "curl -s -o out URL", 1.25, "≥80% of curl's throughput")},
		{name: "gz", fixture: "disk.raw.gz", via: localFile,
			refs: redirect("pigz", "pigz", `pigz -dc "$FILE" > "$OUT"`, "pigz -dc f.gz > out", 1.0, "")},
		{name: "xz", fixture: "disk.raw.xz", via: localFile,
			refs: redirect("xz", "xz", `xz -dc "$FILE" > "$OUT"`, "xz -dc f.xz > out", 1.7, "")},
		{name: "xz-multiblock", fixture: "disk-mb.raw.xz", via: localFile,
			refs: redirect("xz", "xz", `xz -T2 -dc "$FILE" > "$OUT"`, "xz -T2 -dc f.xz > out", 1.5, "")},
		{name: "zstd", fixture: "disk.raw.zst", via: localFile,
			refs: redirect("zstd", "zstd", `zstd -dc "$FILE" > "$OUT"`, "zstd -dc f.zst > out", 1.5, "")},
	}
}

// rssLimit is the most memory ours may use in any case.
const rssLimit = 200 << 20

// BenchmarkImport runs every case: per iteration (-benchtime 3x: three) it
// runs ours and each reference once, in a rotating order, each with its
// input warmed in the page cache and its outputs removed afterwards. Each
// sub-benchmark reports the medians (ns/op is ours' wall time) and the
// ratios; the summary table is printed at the end.
func BenchmarkImport(b *testing.B) {
	if tools.datamover == "" {
		b.Fatal("TestMain did not build the datamover")
	}
	spec := imageSpec{size: 2 << 30, seed: 1}
	if s := os.Getenv("CDI_BENCH_SIZE"); s != "" {
		n, err := parseSize(s)
		require.NoError(b, err)
		spec.size = n
	}
	fx, err := prepareFixtures(b.Context(), spec, b.Logf)
	require.NoError(b, err)
	rep := &report{spec: spec, fixtures: fx, build: tools.buildNote, loadBefore: loadavg(), started: time.Now()}
	srv := startServers(b, fx.dir)

	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			if why := cannotRun(c, fx); why != "" {
				rep.notRun = append(rep.notRun, c.name+": skipped, "+why)
				b.Skip(why)
			}
			b.Cleanup(func() {
				if b.Failed() {
					rep.notRun = append(rep.notRun, c.name+": FAILED (see the log above)")
				}
			})
			rep.cases = append(rep.cases, runCase(b, c, fx, srv))
		})
	}
	rep.loadAfter = loadavg()
	rep.finished = time.Now()
	rep.print(os.Stdout)
	if path := os.Getenv("CDI_BENCH_REPORT"); path != "" {
		f, err := os.Create(path)
		require.NoError(b, err)
		rep.print(f)
		require.NoError(b, f.Close())
	}
}

// runner is ours or one reference, ready to run.
type runner struct {
	name string
	cmd  func(out, scratch string) *exec.Cmd
}

// cannotRun says why case c cannot run, or "".
func cannotRun(c benchCase, fx *fixtureSet) string {
	if why, ok := fx.missing[c.fixture]; ok {
		return fmt.Sprintf("no %s fixture: %s", c.fixture, why)
	}
	for _, r := range c.refs {
		if _, ok := missingTool(r.tools...); ok {
			return ""
		}
	}
	tool, _ := missingTool(c.refs[0].tools...)
	return fmt.Sprintf("no reference tool (%s is not installed)", tool)
}

// runCase measures one case, with those of its references whose tools are
// installed.
func runCase(b *testing.B, c benchCase, fx *fixtureSet, srv fileServers) caseResult {
	var refs []reference
	var skipped []string
	for _, r := range c.refs {
		if tool, ok := missingTool(r.tools...); !ok {
			skipped = append(skipped, fmt.Sprintf("%s (%s is not installed)", r.key, tool))
			b.Logf("skipping reference %s: %s is not installed", r.key, tool)
			continue
		}
		refs = append(refs, r)
	}

	file := fx.path(c.fixture)
	src := file
	switch c.via {
	case rangeHTTP:
		src = srv.rangeURL(c.fixture)
	case noRangeHTTP:
		src = srv.noRangeURL(c.fixture)
	}
	runners := []runner{{name: "ours", cmd: func(out, scratch string) *exec.Cmd {
		args := []string{"import", "--source", src, "--target", out}
		if c.scratch {
			args = append(args, "--scratch", scratch)
		}
		return exec.CommandContext(b.Context(), tools.datamover, args...)
	}}}
	for _, r := range refs {
		runners = append(runners, runner{name: r.key, cmd: func(out, scratch string) *exec.Cmd {
			cmd := exec.CommandContext(b.Context(), "bash", "-eo", "pipefail", "-c", r.script)
			cmd.Env = append(os.Environ(), "FILE="+file, "URL="+src,
				"OUT="+filepath.Join(out, "out.raw"), "SCRATCH="+scratch)
			return cmd
		}})
	}

	work := b.TempDir()
	outDir, scratchDir := filepath.Join(work, "out"), filepath.Join(work, "scratch")
	res := caseResult{bc: c, refs: refs, skipped: skipped}
	samples := make([][]sample, len(runners))
	iter := 0
	for b.Loop() {
		for k := range runners {
			i := (k + iter) % len(runners) // rotate, so no runner always goes first
			require.NoError(b, settle(work))
			require.NoError(b, os.Mkdir(outDir, 0o755))
			require.NoError(b, os.Mkdir(scratchDir, 0o755))
			require.NoError(b, warm(file))
			s, err := measure(runners[i].cmd(outDir, scratchDir))
			require.NoError(b, err, "%s %s", c.name, runners[i].name)
			samples[i] = append(samples[i], s)
			if i == 0 && iter == 0 {
				// Check ours' result once per case, untimed.
				disk := filepath.Join(outDir, "disk.img")
				require.NoError(b, sameContent(fx.path(rawName), disk), "ours' disk.img is not the image")
				res.apparent, res.stored, err = allocated(disk)
				require.NoError(b, err)
			}
		}
		iter++
	}
	require.NoError(b, settle(work))

	res.ours = summarize(samples[0])
	b.ReportMetric(float64(res.ours.wall.Nanoseconds()), "ns/op")
	b.ReportMetric(res.ours.wall.Seconds(), "ours-s")
	b.ReportMetric(float64(res.ours.peakRSS)/(1<<20), "ours-RSS-MiB")
	for i, r := range refs {
		st := summarize(samples[i+1])
		res.refStats = append(res.refStats, st)
		b.ReportMetric(st.wall.Seconds(), r.key+"-s")
		b.ReportMetric(res.ours.wall.Seconds()/st.wall.Seconds(), "x-"+r.key)
	}
	if res.ours.peakRSS > rssLimit {
		b.Logf("MISS: ours' peak RSS %d MiB is over %d MiB", res.ours.peakRSS>>20, rssLimit>>20)
	}
	return res
}

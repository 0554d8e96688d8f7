package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// caseResult is what one case measured.
type caseResult struct {
	bc       benchCase
	refs     []reference // the references run (those with their tools installed)
	skipped  []string    // references not run, and why
	ours     stats
	refStats []stats // parallel to refs
	apparent int64   // ours' disk.img: size
	stored   int64   // ours' disk.img: bytes its blocks take
}

// report is the summary table of one benchmark run.
type report struct {
	spec                  imageSpec
	fixtures              *fixtureSet
	build                 string
	loadBefore, loadAfter string
	started, finished     time.Time
	cases                 []caseResult
	notRun                []string // cases skipped or failed, and why
}

func mib(n int64) string { return fmt.Sprintf("%.0f", float64(n)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// print writes the report as Markdown.
func (r *report) print(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	runs := 0
	if len(r.cases) > 0 {
		runs = r.cases[0].ours.runs
	}
	p("\n## Data-path benchmark, %s\n\n", r.started.Format("2006-01-02 15:04 MST"))
	p("- image: %d MiB raw, %d%% data in scattered 1 MiB extents (half random, half text-like), zeros elsewhere (seed %d); fixtures in %s\n",
		r.spec.size/extent, dataPercent, r.spec.seed, r.fixtures.dir)
	p("- machine: %d CPUs (%s), %s; load average (/proc/loadavg) before the measurements %s, after %s; %s to measure\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), r.loadBefore, r.loadAfter, r.finished.Sub(r.started).Round(time.Second))
	p("- ours: datamover %s; every time is the median of %d runs, ours and the references alternating in one run\n", r.build, runs)
	p("- tools: %s\n", toolVersions())
	p("- 'flush': ours fsyncs disk.img; a reference marked 'no' leaves its output in the page cache (not like for like, in ours' disfavour)\n")
	p("- ours' time in seconds, wall (CPU: user+sys); RSS is the peak resident set from rusage (a reference's shell: its largest process)\n\n")

	p("| case | ours s (cpu) | ours RSS MiB (≤200) | reference | flush | ref s (cpu) | ref RSS MiB | ours/ref | target | verdict |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.cases {
		for i, ref := range c.refs {
			st := c.refStats[i]
			ratio := c.ours.wall.Seconds() / st.wall.Seconds()
			name, ours, rss := "", "", ""
			if i == 0 {
				name = c.bc.name
				ours = fmt.Sprintf("%.2f (%.2f)", c.ours.wall.Seconds(), c.ours.cpu.Seconds())
				rss = mib(c.ours.peakRSS) + " " + verdict(c.ours.peakRSS <= rssLimit)
			}
			flush := "no"
			if ref.flushes {
				flush = "yes: like for like"
			}
			target := "≤" + strconv.FormatFloat(ref.target, 'f', -1, 64) + "×"
			if ref.targetNote != "" {
				target += " (" + ref.targetNote + ")"
			}
			p("| %s | %s | %s | %s | %s | %.2f (%.2f) | %s | %.2f× | %s | %s |\n",
				name, ours, rss, ref.label, flush, st.wall.Seconds(), st.cpu.Seconds(), mib(st.peakRSS),
				ratio, target, verdict(ratio <= ref.target))
		}
		for _, s := range c.skipped {
			p("| %s | | | skipped: %s | | | | | | |\n", c.bc.name, s)
		}
	}

	for _, n := range r.notRun {
		p("\n- %s", n)
	}
	if len(r.notRun) > 0 {
		p("\n")
	}

	p("\n| case | input | input MiB | ours' disk.img: size MiB | stored MiB (sparse) |\n|---|---|---|---|---|\n")
	for _, c := range r.cases {
		in := c.bc.fixture
		if strings.HasSuffix(in, ".xz") {
			if n, err := xzBlocks(r.fixtures.path(in)); err == nil {
				in += fmt.Sprintf(" (%d block(s))", n)
			}
		}
		size := int64(0)
		if fi, err := os.Stat(r.fixtures.path(c.bc.fixture)); err == nil {
			size = fi.Size()
		}
		if c.bc.fixture == rawName {
			_, size, _ = allocated(r.fixtures.path(rawName))
			in += " (sparse; stored size)"
		}
		p("| %s | %s | %s | %s | %s |\n", c.bc.name, in, mib(size), mib(c.apparent), mib(c.stored))
	}
	p("\nReference tools that write with shell redirection (curl -o, pigz, xz, zstd) write every zero: their output is not sparse. qemu-img writes sparsely (-S 4k).\n")
}

// cpuModel is the processor's name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// toolVersions names the reference tools' versions, first line each.
func toolVersions() string {
	var out []string
	for _, t := range [][]string{
		{"qemu-img", "--version"}, {"curl", "--version"}, {"pigz", "--version"},
		{"xz", "--version"}, {"zstd", "--version"},
	} {
		b, err := exec.Command(t[0], t[1:]...).CombinedOutput()
		if err != nil {
			continue
		}
		line := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
		f := strings.Fields(line)
		// "qemu-img version 7.2.22 (…)", "curl 7.88.1 (…)", "pigz 2.6",
		// "xz (XZ Utils) 5.4.1", "*** Zstandard CLI (64-bit) v1.5.4, …"
		for _, w := range f {
			if len(w) > 0 && (w[0] >= '0' && w[0] <= '9' || w[0] == 'v' && len(w) > 1 && w[1] >= '0' && w[1] <= '9') {
				out = append(out, t[0]+" "+strings.TrimSuffix(w, ","))
				break
			}
		}
	}
	return strings.Join(out, ", ")
}

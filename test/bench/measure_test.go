package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sample is one timed run of a program.
type sample struct {
	wall time.Duration
	// cpu is user + system time of the process and the children it
	// waited for (a reference's shell counts its tools).
	cpu time.Duration
	// maxRSS is the peak resident set in bytes: for a shell, the largest of
	// the shell and the children it waited for (wait4's rusage), not a sum.
	maxRSS int64
}

// measure runs cmd to completion and times it. Its standard output goes
// where cmd says; the last 4 KiB of standard error are kept for the error.
func measure(cmd *exec.Cmd) (sample, error) {
	var stderr tailBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w\n%s", cmd.Args, err, stderr.b.Bytes())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, fmt.Errorf("%s: no rusage", cmd.Args)
	}
	return sample{
		wall:   wall,
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		maxRSS: ru.Maxrss << 10, // KiB on Linux
	}, nil
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b bytes.Buffer }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b.Write(p)
	if over := t.b.Len() - 4096; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

// stats are the medians (and the peak RSS) of a series of samples.
type stats struct {
	runs    int
	wall    time.Duration // median
	cpu     time.Duration // median
	peakRSS int64         // largest of the runs
}

// summarize takes the medians of samples (the mean of the middle two for
// an even count).
func summarize(samples []sample) stats {
	if len(samples) == 0 {
		return stats{}
	}
	walls := make([]time.Duration, len(samples))
	cpus := make([]time.Duration, len(samples))
	s := stats{runs: len(samples)}
	for i, x := range samples {
		walls[i], cpus[i] = x.wall, x.cpu
		s.peakRSS = max(s.peakRSS, x.maxRSS)
	}
	s.wall, s.cpu = median(walls), median(cpus)
	return s
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// warm reads path into the page cache (cat > /dev/null), so that ours and
// the reference both read their input from memory.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("warm %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		return fmt.Errorf("warm %s: %w", path, err)
	}
	return nil
}

// settle empties dir (the outputs and scratch files of a run) and flushes
// the file system it is on, so the next run does not start with the
// write-back of this one's leftovers. It is not timed.
func settle(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("settle %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("settle: %w", err)
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("settle %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// allocated returns the apparent size of path and the bytes its blocks take.
func allocated(path string) (apparent, stored int64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Size, st.Blocks * 512, nil
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return string(bytes.TrimSpace(b))
	}
	return string(bytes.Join(f[:3], []byte(" ")))
}

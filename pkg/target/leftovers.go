package target

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Names of the temporary files and directories an import creates. An
// interrupted import (a killed pod, a node lost) leaves them behind; the
// next import in the same place removes them before it starts.
const (
	// partialPattern names a disk image being written (see Disk).
	partialPattern = ".disk.img-*.partial"
	// stagePattern names the staging directory of an extraction.
	stagePattern = ".extract-*.partial"
	// legacyStagePrefix starts the staging directories of earlier versions,
	// ".extract-" and the decimal digits os.MkdirTemp adds.
	legacyStagePrefix = ".extract-"
	// spoolPattern names a scratch file (see Spool).
	spoolPattern = ".spool-*.partial"
)

// RemoveLeftovers deletes what an interrupted import left in the target
// directory dir: partial disk images and extraction staging directories
// (with everything in them). OpenDisk and Extract call it first.
func RemoveLeftovers(dir string) error {
	return removeMatching(dir, isLeftover)
}

// isLeftover reports whether a name in a target directory is one of the
// importer's temporary names.
func isLeftover(name string) bool {
	for _, p := range []string{partialPattern, stagePattern} {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	digits, ok := strings.CutPrefix(name, legacyStagePrefix)
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}

// isSpool reports whether a name in a scratch directory is a spool.
func isSpool(name string) bool {
	ok, _ := path.Match(spoolPattern, name)
	return ok
}

// removeMatching removes the entries of dir whose names match.
func removeMatching(dir string, match func(string) bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: list leftovers of an interrupted import: %w", dir, err)
	}
	for _, e := range entries {
		if !match(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: remove %s, left by an interrupted import: %w", dir, e.Name(), err)
		}
	}
	return nil
}

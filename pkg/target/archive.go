package target

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnsafeArchive reports a tar entry that would escape the target
// directory or that is of a kind that is never extracted.
var ErrUnsafeArchive = errors.New("unsafe archive entry")

// ErrEmptyArchive reports an archive without a single entry: GNU tar's
// empty archive (end-of-archive blocks only) and the like.
var ErrEmptyArchive = errors.New("the archive is empty: nothing to extract")

// ErrTooManyEntries reports an archive with more entries than
// ArchiveOptions.MaxEntries.
var ErrTooManyEntries = errors.New("the archive has too many entries")

// EntryCost is what every extracted entry (file, directory, link, and each
// directory an entry's name implies) counts against the size limit on top
// of its data: the inode, directory entry and metadata block a file system
// spends on it. Without it, an archive of a million empty files or
// directories would "fit" any size.
const EntryCost = 4 << 10

// DefaultMaxEntries is the most entries an archive may have when
// ArchiveOptions.MaxEntries is 0.
const DefaultMaxEntries = 1 << 20

// maxNameLen is PATH_MAX: no longer name or link target can be created.
const maxNameLen = 4096

// GNU tar entry types archive/tar has no names for.
const (
	// TypeGNUVolume is the volume label GNU tar writes first with --label:
	// metadata, no file.
	TypeGNUVolume = 'V'
	// TypeGNUMultiVolume continues a file from the previous volume of a
	// multi-volume archive.
	TypeGNUMultiVolume = 'M'
	// typeGNUDumpDir is a directory with a listing of its content (GNU
	// incremental archives); it is extracted as a directory.
	typeGNUDumpDir = 'D'
)

// ArchiveOptions tune Extract.
type ArchiveOptions struct {
	// Size bounds the space the extracted tree may take: the size of its
	// regular files plus EntryCost per entry (0: the free space of the file
	// system).
	Size int64
	// MaxEntries bounds the number of entries, implied directories
	// included (0: DefaultMaxEntries).
	MaxEntries int
}

// Extraction is an archive unpacked into a hidden staging directory inside
// the target directory, waiting to be published or discarded.
type Extraction struct {
	dir   string
	stage string
	// Files is the number of regular files extracted; Bytes their total size.
	Files int
	Bytes int64
}

// Extract unpacks the tar stream tr into a staging directory inside dir.
// Nothing is visible in dir until Publish, so a failed extraction (or one
// whose source later fails its checksum) leaves dir as it was. The staging
// directories and partial images an interrupted import left in dir are
// removed first.
//
// Entries with absolute names, names with ".." components, names that pass
// through a symbolic link, links whose target is absolute or could lead out
// of dir (see linkInside), names the importer reserves for its temporary
// files, and device or FIFO nodes are refused, and so is an archive without
// entries. Writes go through an os.Root, so no path can escape dir.
func Extract(ctx context.Context, tr *tar.Reader, dir string, opts ArchiveOptions) (*Extraction, error) {
	if err := RemoveLeftovers(dir); err != nil {
		return nil, err
	}
	limit, err := archiveLimit(dir, opts)
	if err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, stagePattern)
	if err != nil {
		return nil, fmt.Errorf("extract into %s: %w", dir, err)
	}
	x := &Extraction{dir: dir, stage: stage}
	maxEntries := opts.MaxEntries
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if err := x.unpack(ctx, tr, limit, maxEntries); err != nil {
		x.Abort()
		return nil, err
	}
	return x, nil
}

func (x *Extraction) unpack(ctx context.Context, tr *tar.Reader, limit int64, maxEntries int) error {
	root, err := os.OpenRoot(x.stage)
	if err != nil {
		return fmt.Errorf("extract into %s: %w", x.dir, err)
	}
	defer root.Close()
	e := extractor{ctx: ctx, root: root, limit: limit, maxEntries: maxEntries, dirs: map[string]bool{}}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := e.entry(hdr, tr); err != nil {
			return err
		}
	}
	if e.entries == 0 {
		return ErrEmptyArchive
	}
	x.Files, x.Bytes = e.files, e.total
	return nil
}

// Publish moves every extracted top-level entry into the target directory,
// replacing entries of the same name.
func (x *Extraction) Publish() error {
	defer os.RemoveAll(x.stage)
	return publish(x.stage, x.dir)
}

// Abort discards the extraction.
func (x *Extraction) Abort() { os.RemoveAll(x.stage) }

func archiveLimit(dir string, opts ArchiveOptions) (int64, error) {
	if opts.Size > 0 {
		return opts.Size, nil
	}
	free, err := freeSpace(dir)
	if err != nil {
		return 0, fmt.Errorf("extract into %s: %w", dir, err)
	}
	return free, nil
}

// maxKnownDirs bounds the directories an extractor remembers as checked.
const maxKnownDirs = 4096

type extractor struct {
	ctx        context.Context
	root       *os.Root
	limit      int64
	maxEntries int
	// cost is the space charged so far: file sizes and EntryCost per entry.
	cost    int64
	entries int
	total   int64
	files   int
	// dirs are directories known to exist as real directories (never
	// removed, so never stale).
	dirs map[string]bool
}

// CleanEntryName validates a tar entry name and returns it relative to the
// extraction root ("" for the root itself).
func CleanEntryName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrUnsafeArchive)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: %q is an absolute path", ErrUnsafeArchive, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q climbs out of the target with \"..\"", ErrUnsafeArchive, name)
		}
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: %q contains a NUL byte", ErrUnsafeArchive, name)
	}
	if len(name) > maxNameLen {
		return "", fmt.Errorf("%w: a name of %d bytes is longer than %d", ErrUnsafeArchive, len(name), maxNameLen)
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

// linkInside reports whether a symbolic link at name (a clean entry name)
// pointing to target stays inside the extraction root whatever the names
// it passes through turn out to be, now or after later imports into the
// same directory:
//
//   - target is relative;
//   - it may start with ".." components, as many as name has parent
//     directories: these climb through the link's own parents, which are
//     real directories (no entry is written through a link) that no later
//     import can replace without replacing the link too (Publish replaces
//     whole top-level entries);
//   - no ".." follows another component: "l/.." leaves whatever l is, and
//     l may be, or later become, a link elsewhere ("l" -> "." makes
//     "l/.." the parent of the target).
//
// The other components only descend, and every link they meet obeys the
// same rule, so resolution never climbs above the root.
func linkInside(name, target string) bool {
	if target == "" || strings.HasPrefix(target, "/") || len(target) > maxNameLen || strings.ContainsRune(target, 0) {
		return false
	}
	depth := strings.Count(name, "/")
	parts := strings.Split(target, "/")
	i := 0
	for ; i < len(parts) && (parts[i] == ".." || parts[i] == "." || parts[i] == ""); i++ {
		if parts[i] == ".." {
			if depth--; depth < 0 {
				return false
			}
		}
	}
	for _, p := range parts[i:] {
		if p == ".." {
			return false
		}
	}
	return true
}

// reserved reports whether a top-level name is one the importer uses for
// its temporary files: an archive must not plant one for the next import to
// remove or take for its own.
func reserved(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	return isLeftover(top)
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, TypeGNUVolume:
		return nil // metadata: nothing to extract
	case tar.TypeDir, typeGNUDumpDir, tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont, tar.TypeSymlink, tar.TypeLink:
	default:
		return fmt.Errorf("%w: %q has unsupported type %q", ErrUnsafeArchive, hdr.Name, hdr.Typeflag)
	}
	name, err := CleanEntryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the root itself ("./")
	}
	if reserved(name) {
		return fmt.Errorf("%w: %q is a name the importer reserves for its temporary files", ErrUnsafeArchive, hdr.Name)
	}
	data := int64(0)
	if IsRegular(hdr.Typeflag) {
		data = hdr.Size
	}
	if err := x.charge(data); err != nil {
		return err
	}
	if err := x.mkdirs(name, path.Dir(name)); err != nil {
		return err
	}
	mode := fs.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeDir, typeGNUDumpDir:
		return x.dir(name, mode)
	case tar.TypeSymlink:
		return x.symlink(name, hdr.Linkname)
	case tar.TypeLink:
		return x.hardLink(name, hdr.Linkname)
	default:
		return x.file(name, hdr, mode, r)
	}
}

// IsRegular reports whether tar entries of type t are regular files.
func IsRegular(t byte) bool {
	return t == tar.TypeReg || t == tar.TypeGNUSparse || t == tar.TypeCont
}

// charge counts one entry of data bytes against the limits.
func (x *extractor) charge(data int64) error {
	if x.entries++; x.entries > x.maxEntries {
		return fmt.Errorf("%w: more than %d (files, directories and links)", ErrTooManyEntries, x.maxEntries)
	}
	need := x.cost + EntryCost
	if data < 0 || need > x.limit || data > x.limit-need {
		return capacityError(fmt.Sprintf("archive (%d entries of %d bytes each and their data)", x.entries, EntryCost),
			need+max(data, 0), x.limit, "")
	}
	x.cost = need + data
	return nil
}

// mkdirs creates the directories of dir, the parent of the entry name,
// that do not exist yet, counting each as an entry. None may be a symbolic
// link: no entry is written through a link.
func (x *extractor) mkdirs(name, dir string) error {
	if dir == "." || x.dirs[dir] {
		return nil
	}
	p := ""
	for _, c := range strings.Split(dir, "/") {
		p = path.Join(p, c)
		if x.dirs[p] {
			continue
		}
		fi, err := x.root.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := x.charge(0); err != nil {
				return err
			}
			if err := x.root.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", name, err)
			}
		case err != nil:
			return fmt.Errorf("extract %s: %w", name, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %q leads through the symbolic link %q", ErrUnsafeArchive, name, p)
		case !fi.IsDir():
			return fmt.Errorf("extract %s: %q is not a directory", name, p)
		}
		x.knownDir(p)
	}
	return nil
}

func (x *extractor) knownDir(p string) {
	if len(x.dirs) >= maxKnownDirs {
		clear(x.dirs)
	}
	x.dirs[p] = true
}

// replace removes what an earlier entry of the same name left, so that the
// new entry replaces it instead of being written through it (a symbolic
// link) or into it (a file shared with a hard link), as tar does. A
// directory is never replaced.
func (x *extractor) replace(name string) error {
	fi, err := x.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("extract %s: %w", name, err)
	case fi.IsDir():
		return fmt.Errorf("extract %s: a directory of that name exists", name)
	}
	if err := x.root.Remove(name); err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	return nil
}

func (x *extractor) dir(name string, mode fs.FileMode) error {
	fi, err := x.root.Lstat(name)
	switch {
	case err == nil && fi.IsDir():
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if err := x.replace(name); err != nil {
			return err
		}
		if err := x.root.Mkdir(name, 0o755); err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
	default:
		return fmt.Errorf("extract %s: %w", name, err)
	}
	x.knownDir(name)
	if err := x.root.Chmod(name, mode|0o700); err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	return nil
}

func (x *extractor) symlink(name, target string) error {
	if !linkInside(name, target) {
		return fmt.Errorf("%w: symlink %q points outside the target (%q)", ErrUnsafeArchive, name, target)
	}
	if err := x.replace(name); err != nil {
		return err
	}
	if err := x.root.Symlink(target, name); err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	return nil
}

// hardLink links name to the earlier entry linkname. A hard link to a
// symbolic link is a second symbolic link, at another place: its target
// must be safe there too.
func (x *extractor) hardLink(name, linkname string) error {
	old, err := CleanEntryName(linkname)
	if err != nil || old == "" {
		return fmt.Errorf("%w: hard link %q points outside the target (%q)", ErrUnsafeArchive, name, linkname)
	}
	fi, err := x.root.Lstat(old)
	if err != nil {
		return fmt.Errorf("extract %s: hard link to %q: %w", name, linkname, err)
	}
	switch {
	case fi.IsDir():
		return fmt.Errorf("%w: hard link %q points to the directory %q", ErrUnsafeArchive, name, linkname)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := x.root.Readlink(old)
		if err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
		if !linkInside(name, target) {
			return fmt.Errorf("%w: hard link %q to the symlink %q points outside the target (%q)", ErrUnsafeArchive, name, linkname, target)
		}
	}
	if old == name {
		return nil
	}
	if err := x.replace(name); err != nil {
		return err
	}
	if err := x.root.Link(old, name); err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	return nil
}

func (x *extractor) file(name string, hdr *tar.Header, mode fs.FileMode, r io.Reader) error {
	if err := x.replace(name); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode|0o600)
	if err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	d := &Disk{f: f, limit: hdr.Size, alloc: -1}
	n, err := Copy(x.ctx, d, r)
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("short entry: %d of %d bytes", n, hdr.Size)
	}
	if err == nil {
		err = f.Truncate(hdr.Size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	x.total += hdr.Size
	x.files++
	return nil
}

// publish moves every top-level entry of stage into dir, replacing entries
// of the same name.
func publish(stage, dir string) error {
	entries, err := os.ReadDir(stage)
	if err != nil {
		return fmt.Errorf("extract into %s: %w", dir, err)
	}
	for _, e := range entries {
		dst := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("extract into %s: replace %s: %w", dir, e.Name(), err)
		}
		if err := os.Rename(filepath.Join(stage, e.Name()), dst); err != nil {
			return fmt.Errorf("extract into %s: %w", dir, err)
		}
	}
	return syncDir(dir)
}

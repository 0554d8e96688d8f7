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

// ArchiveOptions tune Extract.
type ArchiveOptions struct {
	// Size bounds the total size of extracted regular files (0: the free
	// space of the file system).
	Size int64
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
// whose source later fails its checksum) leaves dir as it was.
//
// Entries with absolute names, names with ".." components, links whose
// target lies outside dir, and device or FIFO nodes are refused. Writes go
// through an os.Root, so no symbolic link can redirect them out of dir.
func Extract(ctx context.Context, tr *tar.Reader, dir string, opts ArchiveOptions) (*Extraction, error) {
	limit, err := archiveLimit(dir, opts)
	if err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, ".extract-*")
	if err != nil {
		return nil, fmt.Errorf("extract into %s: %w", dir, err)
	}
	x := &Extraction{dir: dir, stage: stage}
	if err := x.unpack(ctx, tr, limit); err != nil {
		x.Abort()
		return nil, err
	}
	return x, nil
}

func (x *Extraction) unpack(ctx context.Context, tr *tar.Reader, limit int64) error {
	root, err := os.OpenRoot(x.stage)
	if err != nil {
		return fmt.Errorf("extract into %s: %w", x.dir, err)
	}
	defer root.Close()
	e := extractor{root: root, limit: limit}
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
	if err := e.checkLinks(); err != nil {
		return err
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

type extractor struct {
	root  *os.Root
	limit int64
	total int64
	files int
	links []string // symbolic links created, checked once all exist
}

// checkLinks resolves every symbolic link through the root: a link whose
// target is lexically inside may still lead out through other links
// ("d" -> "l/.." with "l" -> "."). A dangling link is allowed.
func (x *extractor) checkLinks() error {
	for _, name := range x.links {
		if _, err := x.root.Stat(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: symlink %q leads outside the target: %v", ErrUnsafeArchive, name, err)
		}
	}
	return nil
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
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

// linkInside reports whether the symbolic link at name pointing to target
// resolves (lexically) inside the extraction root.
func linkInside(name, target string) bool {
	if target == "" || strings.HasPrefix(target, "/") {
		return false
	}
	resolved := path.Join(path.Dir(name), target)
	return resolved != ".." && !strings.HasPrefix(resolved, "../")
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := CleanEntryName(hdr.Name)
	if err != nil {
		return err
	}
	mode := fs.FileMode(hdr.Mode).Perm()
	if name == "" {
		return nil
	}
	if dir := path.Dir(name); dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.root.MkdirAll(name, 0o755); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
		return x.root.Chmod(name, mode|0o700)
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.file(name, hdr, mode, r)
	case tar.TypeSymlink:
		if !linkInside(name, hdr.Linkname) {
			return fmt.Errorf("%w: symlink %q points outside the target (%q)", ErrUnsafeArchive, hdr.Name, hdr.Linkname)
		}
		if err := x.root.Symlink(hdr.Linkname, name); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
		x.links = append(x.links, name)
		return nil
	case tar.TypeLink:
		old, err := CleanEntryName(hdr.Linkname)
		if err != nil || old == "" {
			return fmt.Errorf("%w: hard link %q points outside the target (%q)", ErrUnsafeArchive, hdr.Name, hdr.Linkname)
		}
		if err := x.root.Link(old, name); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("%w: %q has unsupported type %q", ErrUnsafeArchive, hdr.Name, hdr.Typeflag)
	}
}

func (x *extractor) file(name string, hdr *tar.Header, mode fs.FileMode, r io.Reader) error {
	if hdr.Size < 0 || x.total+hdr.Size > x.limit {
		return capacityError("archive", x.total+hdr.Size, x.limit)
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode|0o600)
	if err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	d := &Disk{f: f, limit: hdr.Size, alloc: -1}
	n, err := Copy(context.Background(), d, r)
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

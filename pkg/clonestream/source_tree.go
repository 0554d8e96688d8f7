package clonestream

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lostFound is the directory mkfs makes at the root of ext file systems:
// the target's file system has its own.
const lostFound = "lost+found"

// sourceTree is a directory to send as a tree.
type sourceTree struct {
	// root is the directory, opened so that no path leaves it.
	root    *os.Root
	entries []Entry
	// size is the total size of the regular files.
	size int64
}

// walkTree lists the tree under dir, parents before children, in lexical
// order. Regular files linked more than once are sent once and then as
// hard links. Sockets, devices and FIFOs are refused: an archive import
// never makes them.
func walkTree(dir string) (*sourceTree, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("clone source %s: %w", dir, err)
	}
	t := &sourceTree{root: root}
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if p == lostFound && d.IsDir() {
			return fs.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Path: p, Mode: uint32(fi.Mode().Perm())}
		switch {
		case fi.Mode().IsRegular():
			e.Type, e.Size = EntryFile, fi.Size()
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino}
				if first, ok := seen[key]; ok {
					e.Type, e.Size, e.Link = EntryHardlink, 0, first
				} else {
					seen[key] = p
				}
			}
		case fi.IsDir():
			e.Type = EntryDir
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type = EntrySymlink
			if e.Link, err = root.Readlink(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s is a %s, which a clone does not copy", p, fi.Mode().Type())
		}
		if err := e.Validate(); err != nil {
			return err
		}
		if len(t.entries) >= MaxEntries {
			return fmt.Errorf("more than %d entries", MaxEntries)
		}
		t.entries = append(t.entries, e)
		t.size += e.Size
		return nil
	})
	if err == nil && len(t.entries) == 0 {
		err = fmt.Errorf("nothing to clone")
	}
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("clone source %s: %w", dir, err)
	}
	return t, nil
}

// sendTree sends every entry and the content of every regular file;
// send(base) sends the extents of a file whose content starts at base in
// the tree's total.
func (s *Source) sendTree(ctx context.Context, enc *Encoder, send func(base int64) func(extent) error) error {
	var base int64
	for _, e := range s.tree.entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := enc.Entry(e); err != nil {
			return err
		}
		s.dig.Entry(e)
		if e.Type != EntryFile || e.Size == 0 {
			continue
		}
		if err := s.sendFile(ctx, e, send(base)); err != nil {
			return err
		}
		base += e.Size
	}
	return nil
}

func (s *Source) sendFile(ctx context.Context, e Entry, emit func(extent) error) error {
	f, err := s.tree.root.OpenFile(e.Path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("clone source: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("clone source: %w", err)
	}
	if fi.Size() != e.Size {
		return fmt.Errorf("clone source %s: changed size from %d to %d bytes while cloning", filepath.Join(s.opts.Path, e.Path), e.Size, fi.Size())
	}
	return newScanner(f, e.Size, true).scan(ctx, 0, emit)
}

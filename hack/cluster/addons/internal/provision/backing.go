package provision

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Backing creates and removes the host side of volumes.
type Backing interface {
	// Directory creates the directory of a Filesystem volume.
	Directory(ctx context.Context, path string) error
	// Device creates (or finds) a loop device over a sparse file of size
	// bytes and returns the device's path.
	Device(ctx context.Context, file string, size int64) (string, error)
	// Remove detaches the loop devices over path, if any, and removes it.
	Remove(ctx context.Context, path string) error
}

// Host is the Backing of the local machine: directories and loop devices
// under Dir. Nothing outside Dir is ever removed.
type Host struct {
	// Dir holds every volume.
	Dir string
}

var _ Backing = Host{}

// Directory implements Backing. The directory is 0750 root:root: kubelet
// gives it to the pod's fsGroup when it mounts the local volume.
func (h Host) Directory(_ context.Context, path string) error {
	if err := h.inside(path); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.Mkdir(path, 0o750); err != nil && !os.IsExist(err) {
		return fmt.Errorf("create volume directory: %w", err)
	}
	return nil
}

// Device implements Backing.
func (h Host) Device(ctx context.Context, file string, size int64) (string, error) {
	if err := h.inside(file); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(file), err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("create backing file: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("size backing file %s: %w", file, err)
	}
	devs, err := loopDevices(ctx, file)
	if err != nil {
		return "", err
	}
	if len(devs) > 0 {
		return devs[0], nil
	}
	out, err := exec.CommandContext(ctx, "losetup", "--find", "--show", file).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("losetup --find --show %s: %w: %s", file, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// Remove implements Backing.
func (h Host) Remove(ctx context.Context, path string) error {
	if err := h.inside(path); err != nil {
		return err
	}
	devs, err := loopDevices(ctx, path)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if out, err := exec.CommandContext(ctx, "losetup", "--detach", d).CombinedOutput(); err != nil {
			return fmt.Errorf("losetup --detach %s: %w: %s", d, err, strings.TrimSpace(string(out)))
		}
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove volume data: %w", err)
	}
	return nil
}

// inside refuses paths that are not strictly below Dir.
func (h Host) inside(path string) error {
	rel, err := filepath.Rel(h.Dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return fmt.Errorf("%s is not inside the volume directory %s", path, h.Dir)
	}
	return nil
}

// loopDevices lists the loop devices whose backing file is file (none when
// it is not a regular file).
func loopDevices(ctx context.Context, file string) ([]string, error) {
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return nil, nil
	}
	out, err := exec.CommandContext(ctx, "losetup", "--noheadings", "--output", "NAME", "--associated", file).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("losetup --associated %s: %w: %s", file, err, strings.TrimSpace(string(out)))
	}
	return strings.Fields(string(out)), nil
}

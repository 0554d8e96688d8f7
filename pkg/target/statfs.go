package target

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// freeSpace is the number of bytes an unprivileged writer may still
// allocate on the file system holding dir.
func freeSpace(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

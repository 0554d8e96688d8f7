package sourcetest

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteSecretDir writes a credentials Secret as Kubernetes mounts it
// (files accessKeyId and secretKey) to a temp dir and returns the dir.
func WriteSecretDir(tb testing.TB, accessKeyID, secretKey string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, v := range map[string]string{"accessKeyId": accessKeyID, "secretKey": secretKey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			tb.Fatalf("write secret file: %v", err)
		}
	}
	return dir
}

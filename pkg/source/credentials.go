package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Names of the files in a mounted credentials Secret (the keys CDI uses).
const (
	// AccessKeyFile holds the HTTP user name or the S3 access key id.
	AccessKeyFile = "accessKeyId"
	// SecretKeyFile holds the HTTP password or the S3 secret key.
	SecretKeyFile = "secretKey"
)

// credentials are the two values of a credentials Secret. Their String
// method hides them, so they cannot leak into a message by accident.
type credentials struct {
	user, password string
}

func (c *credentials) String() string { return "credentials(redacted)" }

// loadCredentials reads dir/accessKeyId and dir/secretKey. An empty dir
// means no credentials (nil, nil).
func loadCredentials(dir string) (*credentials, error) {
	if dir == "" {
		return nil, nil
	}
	user, err := readSecretFile(dir, AccessKeyFile)
	if err != nil {
		return nil, err
	}
	password, err := readSecretFile(dir, SecretKeyFile)
	if err != nil {
		return nil, err
	}
	return &credentials{user: user, password: password}, nil
}

func readSecretFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("secret dir %q has no %s file", dir, name)
	}
	if err != nil {
		// The error names only the path, never the content.
		return "", fmt.Errorf("read secret file %s: %w", name, err)
	}
	// Files written by hand often end in a newline; a credential never does.
	return strings.TrimRight(string(b), "\r\n"), nil
}

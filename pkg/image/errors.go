package image

import (
	"errors"
	"fmt"
)

// ErrUnsupported reports a format that is recognised but not imported.
var ErrUnsupported = errors.New("not supported yet")

// Unsupported returns the error for a recognised format that cannot be
// imported.
func Unsupported(f Format) error {
	return fmt.Errorf("%s images are %w: convert the image to raw or qcow2 first", f, ErrUnsupported)
}

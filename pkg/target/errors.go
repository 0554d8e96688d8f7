package target

import (
	"errors"
	"fmt"
)

// ErrCapacity reports that the data does not fit the target.
var ErrCapacity = errors.New("image does not fit the target")

// capacityError builds an ErrCapacity error with the numbers a user needs;
// holder names what is full ("" for the target).
func capacityError(what string, need, have int64, holder string) error {
	if holder == "" {
		holder = "the target"
	}
	return fmt.Errorf("%w: %s needs %d bytes but %s holds %d", ErrCapacity, what, need, holder, have)
}

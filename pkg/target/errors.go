package target

import (
	"errors"
	"fmt"
)

// ErrCapacity reports that the data does not fit the target.
var ErrCapacity = errors.New("image does not fit the target")

// capacityError builds an ErrCapacity error with the numbers a user needs.
func capacityError(what string, need, have int64) error {
	return fmt.Errorf("%w: %s needs %d bytes but the target holds %d", ErrCapacity, what, need, have)
}

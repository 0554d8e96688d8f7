package uploadtoken

import "errors"

// ErrInvalid is wrapped by every refusal of a token: malformed, badly
// signed, signed by an unknown key, expired, not yet valid, for another
// audience or with an incomplete scope. Callers answer 401.
var ErrInvalid = errors.New("invalid upload token")

// ErrExpired is wrapped (with ErrInvalid) by the refusal of a token whose
// lifetime is over, so that a client can be told to ask for a new one.
var ErrExpired = errors.New("upload token expired")

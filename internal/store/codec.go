package store

import "errors"

// ErrCorrupt is matched (errors.Is) by every error Request.Unmarshal and
// Restore return for input that is not a valid encoding.
var ErrCorrupt = errors.New("store: corrupt input")

type corruptError struct{ msg string }

func (e *corruptError) Error() string        { return "store: " + e.msg }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

func corrupt(msg string) error { return &corruptError{msg: msg} }

package discovery

import (
	"errors"
	"fmt"
)

var (
	// ErrTokenUsed is a member arriving at a token whose cluster has already
	// formed without it. Errors carrying it are *UsedTokenError.
	ErrTokenUsed = errors.New("discovery: token already used")
	// ErrDuplicateID is a registration under this member's ID that
	// describes another member.
	ErrDuplicateID = errors.New("discovery: member ID already registered by another member")
	// ErrDuplicateName is a name registered twice with different peer URLs.
	ErrDuplicateName = errors.New("discovery: member name already registered by another member")
	// ErrBadSize is a _config/size that is not a positive integer.
	ErrBadSize = errors.New("discovery: bad _config/size")
	// ErrBadEndpoint is a discovery URL that does not answer as a v2 keys
	// directory (an HTML page, a server without watches, ...).
	ErrBadEndpoint = errors.New("discovery: URL does not answer as an etcd v2 keys directory")
)

// UsedTokenError refuses a member that is not one of the members a token
// formed its cluster from. It says what to do instead.
type UsedTokenError struct {
	URL  string
	Size int
	// Members are the founding members, in registration order; there are
	// fewer than Size when registrations were deleted after the cluster
	// formed.
	Members []Member
	// Name and ID describe the refused member.
	Name string
	ID   uint64
}

func (e *UsedTokenError) Error() string {
	return fmt.Sprintf("discovery: token %s was already used to form a cluster of %d members (%s); "+
		"this member (%s, id %x) is not one of them. Get a fresh token (GET /new?size=N on any arbor) "+
		"to form a new cluster, or start this member with -peers and the peer URL of a running member to join that one",
		e.URL, e.Size, names(e.Members), e.Name, e.ID)
}

func (e *UsedTokenError) Is(target error) bool { return target == ErrTokenUsed }

// unavailableError is a failure worth retrying: the discovery service was
// unreachable, timed out or answered 5xx.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

func isUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}

package apierr

import (
	"errors"
	"fmt"
)

// Code is an etcd v2 error code.
type Code int

// Codes from etcd's v2 error list (etcd 0.4 through 3.4).
const (
	KeyNotFound     Code = 100
	TestFailed      Code = 101
	NotFile         Code = 102
	NoMorePeer      Code = 103
	NotDir          Code = 104
	NodeExist       Code = 105
	KeyIsPreserved  Code = 106
	RootReadOnly    Code = 107
	DirNotEmpty     Code = 108
	ExistingPeer    Code = 109
	Unauthorized    Code = 110
	ValueRequired   Code = 200
	PrevValueReq    Code = 201
	TTLNaN          Code = 202
	IndexNaN        Code = 203
	ValueOrTTLReq   Code = 204
	TimeoutNaN      Code = 205
	NameRequired    Code = 206
	IndexOrValueReq Code = 207
	IndexValueMutex Code = 208
	InvalidField    Code = 209
	InvalidForm     Code = 210
	RefreshValue    Code = 211
	RefreshTTLReq   Code = 212
	RaftInternal    Code = 300
	LeaderElect     Code = 301
	WatcherCleared  Code = 400
	EventIndexClear Code = 401
	StandbyInternal Code = 402
	InvalidActive   Code = 403
	InvalidRemove   Code = 404
	ClientInternal  Code = 500
)

// messages is the one table of etcd's fixed messages, as etcd 3.4 prints them.
var messages = map[Code]string{
	KeyNotFound:     "Key not found",
	TestFailed:      "Compare failed",
	NotFile:         "Not a file",
	NoMorePeer:      "Reached the max number of peers in the cluster",
	NotDir:          "Not a directory",
	NodeExist:       "Key already exists",
	KeyIsPreserved:  "The prefix of given key is a keyword in etcd",
	RootReadOnly:    "Root is read only",
	DirNotEmpty:     "Directory not empty",
	ExistingPeer:    "Peer address has existed",
	Unauthorized:    "The request requires user authentication",
	ValueRequired:   "Value is Required in POST form",
	PrevValueReq:    "PrevValue is Required in POST form",
	TTLNaN:          "The given TTL in POST form is not a number",
	IndexNaN:        "The given index in POST form is not a number",
	ValueOrTTLReq:   "Value or TTL is required in POST form",
	TimeoutNaN:      "The given timeout in POST form is not a number",
	NameRequired:    "Name is required in POST form",
	IndexOrValueReq: "Index or value is required",
	IndexValueMutex: "Index and value cannot both be specified",
	InvalidField:    "Invalid field",
	InvalidForm:     "Invalid POST form",
	RefreshValue:    "Value provided on refresh",
	RefreshTTLReq:   "A TTL must be provided on refresh",
	RaftInternal:    "Raft Internal Error",
	LeaderElect:     "During Leader Election",
	WatcherCleared:  "watcher is cleared due to etcd recovery",
	EventIndexClear: "The event in requested index is outdated and cleared",
	StandbyInternal: "Standby Internal Error",
	InvalidActive:   "Invalid active size",
	InvalidRemove:   "Standby remove delay",
	ClientInternal:  "Client Internal Error",
}

// Message returns etcd's fixed message for c, or "" for an unknown code.
func (c Code) Message() string { return messages[c] }

// Error is an etcd v2 API error. Its JSON form is the wire format.
type Error struct {
	Code    Code   `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
	Index   uint64 `json:"index"`
}

// New returns the error for code with the given cause and store index.
func New(code Code, cause string, index uint64) *Error {
	return &Error{Code: code, Message: code.Message(), Cause: cause, Index: index}
}

// Newf is New with a formatted cause.
func Newf(code Code, index uint64, format string, args ...any) *Error {
	return New(code, fmt.Sprintf(format, args...), index)
}

// Error formats as etcdctl prints errors: "100: Key not found (/foo) [12]".
func (e *Error) Error() string {
	return fmt.Sprintf("%d: %s (%s) [%d]", e.Code, e.Message, e.Cause, e.Index)
}

// StatusCode is the HTTP status etcd answers with for this error. (Numbers,
// not net/http's names: the store imports this package and stays free of
// net/http.)
func (e *Error) StatusCode() int {
	switch e.Code {
	case KeyNotFound:
		return 404
	case NotFile, DirNotEmpty:
		return 403
	case Unauthorized:
		return 401
	case TestFailed, NodeExist:
		return 412
	case RaftInternal, LeaderElect:
		return 500
	}
	return 400
}

// Is reports whether err is an *Error with the given code.
func Is(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

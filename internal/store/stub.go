package store

// TEMPORARY: replaced by the real implementation. Delete this file when
// store.go lands.

import (
	"context"
	"io"
	"time"
)

type Store struct{}
type Snapshot struct{}
type Watcher struct{}

func newStore(Config) *Store                                       { return &Store{} }
func (s *Store) apply(*Request) (*Event, error)                    { panic("unimplemented") }
func (s *Store) get(string, bool, bool, time.Time) (*Event, error) { panic("unimplemented") }
func (s *Store) index() uint64                                     { panic("unimplemented") }
func (s *Store) watch(string, bool, bool, uint64) (*Watcher, error) {
	panic("unimplemented")
}
func (s *Store) nextExpiration() (time.Time, bool)      { panic("unimplemented") }
func (s *Store) stats() Stats                           { panic("unimplemented") }
func (s *Store) len() int                               { panic("unimplemented") }
func (s *Store) snapshot() *Snapshot                    { panic("unimplemented") }
func (s *Store) restore(io.Reader) error                { panic("unimplemented") }
func (sn *Snapshot) writeTo(io.Writer) (int64, error)   { panic("unimplemented") }
func (sn *Snapshot) storeIndex() uint64                 { panic("unimplemented") }
func (w *Watcher) next(context.Context) (*Event, error) { panic("unimplemented") }
func (w *Watcher) startIndex() uint64                   { panic("unimplemented") }
func (w *Watcher) close()                               { panic("unimplemented") }
func (e *Event) encode() []byte                         { panic("unimplemented") }

// Marshal encodes r for the Raft log.
func (r *Request) Marshal() []byte { panic("unimplemented") }

// Unmarshal decodes a Request written by Marshal. Never panics on bad input.
func (r *Request) Unmarshal(b []byte) error { panic("unimplemented") }

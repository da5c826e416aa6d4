package raftnode

import "sync/atomic"

// Stage is one step of the write pipeline as others see it: busy while it
// works on something, and a signal (non-blocking, coalesced) each time it
// finishes. The Ready loop is one (Node.ReadyStage); the server's apply
// loop is another. Its proposer holds a batch while a stage is busy.
type Stage struct {
	busy atomic.Bool
	done chan struct{}
}

func NewStage() *Stage { return &Stage{done: make(chan struct{}, 1)} }

// Start and Finish are called by the stage's own goroutine around a piece
// of work.
func (s *Stage) Start() { s.busy.Store(true) }

func (s *Stage) Finish() {
	s.busy.Store(false)
	select {
	case s.done <- struct{}{}:
	default:
	}
}

func (s *Stage) Busy() bool { return s.busy.Load() }

// Done is signalled after each Finish; a signal may be left from work
// finished before the receiver looked.
func (s *Stage) Done() <-chan struct{} { return s.done }

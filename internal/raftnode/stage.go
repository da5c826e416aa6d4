package raftnode

import "sync/atomic"

// Stage is one step of the write pipeline as others see it: busy while it
// works on something, and a signal (non-blocking, coalesced) each time it
// starts and each time it finishes. The Ready loop is one
// (Node.ReadyStage); the server's apply loop is another. Its proposer
// holds a batch while a stage is busy.
type Stage struct {
	busy    atomic.Bool
	started chan struct{}
	done    chan struct{}
}

func NewStage() *Stage {
	return &Stage{started: make(chan struct{}, 1), done: make(chan struct{}, 1)}
}

// Start and Finish are called by the stage's own goroutine around a piece
// of work.
func (s *Stage) Start() {
	s.busy.Store(true)
	signal(s.started)
}

func (s *Stage) Finish() {
	s.busy.Store(false)
	signal(s.done)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *Stage) Busy() bool { return s.busy.Load() }

// Started is signalled after each Start; a signal may be left from work
// started before the receiver looked.
func (s *Stage) Started() <-chan struct{} { return s.started }

// Done is signalled after each Finish; a signal may be left from work
// finished before the receiver looked.
func (s *Stage) Done() <-chan struct{} { return s.done }

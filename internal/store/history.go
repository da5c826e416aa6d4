package store

import "fmt"

// history is a ring of the most recent events, one per index: every index
// increment emits exactly one event (refreshes included), so the event for
// index i sits at a computable position. It grows on demand up to max.
type history struct {
	buf  []*Event
	head int // position of the event with index first
	n    int
	// first is the index of the oldest event held (or, when n == 0, of the
	// next event to arrive). Invariant: the events held are first..first+n-1.
	first uint64
	max   int
}

func (h *history) init(max int, first uint64) {
	*h = history{max: max, first: first}
}

// reset empties the history so that the next event expected is next.
func (h *history) reset(next uint64) {
	clear(h.buf)
	h.head, h.n, h.first = 0, 0, next
}

// last is the index of the newest event held (first-1 when empty).
func (h *history) last() uint64 { return h.first + uint64(h.n) - 1 }

func (h *history) add(e *Event) {
	if want := h.first + uint64(h.n); e.Index() != want {
		panic(fmt.Sprintf("store: history expects index %d, got %d", want, e.Index()))
	}
	if h.n == len(h.buf) && len(h.buf) < h.max {
		h.grow()
	}
	if h.n < len(h.buf) {
		h.buf[(h.head+h.n)%len(h.buf)] = e
		h.n++
		return
	}
	// Full at max size: overwrite the oldest.
	h.buf[h.head] = e
	h.head = (h.head + 1) % len(h.buf)
	h.first++
}

func (h *history) grow() {
	size := 2 * len(h.buf)
	if size < 1024 {
		size = 1024
	}
	if size > h.max {
		size = h.max
	}
	nb := make([]*Event, size)
	for i := 0; i < h.n; i++ {
		nb[i] = h.buf[(h.head+i)%len(h.buf)]
	}
	h.buf, h.head = nb, 0
}

// get returns the event with index i. Requires first <= i <= last().
func (h *history) get(i uint64) *Event {
	return h.buf[(h.head+int(i-h.first))%len(h.buf)]
}

package store

import "fmt"

// history is a ring of the most recent events, one per index: every index
// increment emits exactly one event (refreshes included), so the event for
// index i sits at a computable position. It grows on demand up to max
// events, and drops its oldest ones while they hold more than maxBytes.
type history struct {
	buf  []*Event
	head int // position of the event with index first
	n    int
	// first is the index of the oldest event held (or, when n == 0, of the
	// next event to arrive). Invariant: the events held are first..first+n-1.
	first uint64
	max   int
	// bytes is the eventBytes of the events held; above maxBytes (0: no
	// bound) the oldest go, though never the newest.
	bytes, maxBytes int64
}

func (h *history) init(max int, maxBytes int64, first uint64) {
	*h = history{max: max, maxBytes: maxBytes, first: first}
}

// reset empties the history so that the next event expected is next.
func (h *history) reset(next uint64) {
	clear(h.buf)
	h.head, h.n, h.first, h.bytes = 0, 0, next, 0
}

// eventOverhead approximates what an event costs besides its keys and
// values: the Event and its nodes, and the slot.
const eventOverhead = 320

// eventBytes is what the history counts for e against maxBytes: its keys
// and values (a value the store or a neighbouring event shares is counted
// anyway: overwriting one key keeps every old value alive here alone).
func eventBytes(e *Event) int64 {
	return eventOverhead + nodeBytes(e.Node) + nodeBytes(e.PrevNode)
}

func nodeBytes(nd *NodeExtern) int64 {
	if nd == nil {
		return 0
	}
	n := int64(len(nd.Key))
	if nd.Value != nil {
		n += int64(len(*nd.Value))
	}
	return n
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
	if h.n == len(h.buf) {
		// Full at max size: the oldest goes.
		h.dropOldest()
	}
	h.buf[(h.head+h.n)%len(h.buf)] = e
	h.n++
	h.bytes += eventBytes(e)
	for h.maxBytes > 0 && h.bytes > h.maxBytes && h.n > 1 {
		h.dropOldest()
	}
}

func (h *history) dropOldest() {
	h.bytes -= eventBytes(h.buf[h.head])
	h.buf[h.head] = nil
	h.head = (h.head + 1) % len(h.buf)
	h.n--
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

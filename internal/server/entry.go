package server

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/arbor-kv/arbor/internal/raftnode"
	"github.com/arbor-kv/arbor/internal/store"
)

const entryRequests = 0x01

// maxBatchBytes bounds one log entry, well under the raft message limit.
const maxBatchBytes = 512 << 10

// encodeBatch writes encoded requests into one log entry.
func encodeBatch(reqs [][]byte) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, r := range reqs {
		size += binary.MaxVarintLen64 + len(r)
	}
	b := make([]byte, 0, size)
	b = append(b, entryRequests)
	b = binary.AppendUvarint(b, uint64(len(reqs)))
	for _, r := range reqs {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

// batchEncoder builds log entries from requests, reusing its buffers: the
// proposer encodes every write, so this is on the write path.
type batchEncoder struct {
	body    []byte // count × (len | request), reused
	scratch []byte // one encoded request, reused
	n       int
}

func (e *batchEncoder) reset() { e.body, e.n = e.body[:0], 0 }

// add encodes r into the batch and returns the batch's size so far.
func (e *batchEncoder) add(r *store.Request) int {
	e.scratch = r.AppendMarshal(e.scratch[:0])
	e.body = binary.AppendUvarint(e.body, uint64(len(e.scratch)))
	e.body = append(e.body, e.scratch...)
	e.n++
	return len(e.body)
}

// entry returns the log entry: a new slice, since Raft keeps it.
func (e *batchEncoder) entry() []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(e.body))
	b = append(b, entryRequests)
	b = binary.AppendUvarint(b, uint64(e.n))
	return append(b, e.body...)
}

// pendingBatch is the proposer's next log entry while it is gathered.
type pendingBatch struct {
	enc  batchEncoder
	ids  []uint64 // the writes' request IDs, in order
	size int
}

func (b *pendingBatch) add(r *store.Request) {
	b.ids = append(b.ids, r.ID)
	b.size = b.enc.add(r)
}

func (b *pendingBatch) full() bool { return b.size >= maxBatchBytes }

// gatherBatch starts the batch with first and adds the writes queued on
// in. Then, for each stage that is busy (the Raft loop, the apply loop),
// it goes on adding writes as they arrive until that stage is done: while
// the Raft loop is in an fsync a proposal would only wait for it, and
// while the apply loop is applying, the clients it is answering are about
// to send their next writes. So the writes of one wave share an entry and
// an fsync instead of the first of them going alone into an fsync of its
// own. A full batch goes at once. It returns false if stop fired.
func gatherBatch(b *pendingBatch, first *store.Request, in <-chan *store.Request, stop <-chan struct{}, stages ...*raftnode.Stage) bool {
	b.enc.reset()
	b.ids = b.ids[:0]
	b.add(first)
drain:
	for !b.full() {
		select {
		case r := <-in:
			b.add(r)
		default:
			break drain
		}
	}
	for _, st := range stages {
		select { // a signal from work finished before now is stale
		case <-st.Done():
		default:
		}
		if !st.Busy() {
			continue
		}
	wait:
		for !b.full() {
			select {
			case r := <-in:
				b.add(r)
			case <-st.Done():
				break wait
			case <-stop:
				return false
			}
		}
	}
	return true
}

var errBadEntry = errors.New("server: malformed log entry")

// decodeBatch reads the requests of one log entry.
func decodeBatch(b []byte) ([]*store.Request, error) {
	if len(b) == 0 || b[0] != entryRequests {
		return nil, fmt.Errorf("%w: unknown entry type", errBadEntry)
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad count", errBadEntry)
	}
	b = b[k:]
	reqs := make([]*store.Request, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: request %d truncated", errBadEntry, i)
		}
		r := new(store.Request)
		if err := r.Unmarshal(b[k : k+int(l)]); err != nil {
			return nil, fmt.Errorf("%w: request %d: %v", errBadEntry, i, err)
		}
		reqs = append(reqs, r)
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadEntry, len(b))
	}
	return reqs, nil
}

package raftnode

import (
	"sync"
	"time"
)

// rateSamples is how many recent appends a rate covers: etcd's stats queue
// keeps the same number for /v2/stats/self.
const rateSamples = 200

// rateQuiet is how long after the newest append a rate still counts; after
// that it is zero, as etcd shows a peer that went quiet.
const rateQuiet = time.Second

// Rate is how fast appends (MsgApp) went out or came in: messages and bytes
// per second over the latest appends.
type Rate struct {
	Packets, Bytes float64
}

// rateWindow remembers the time and size of the latest appends. Safe for
// concurrent use: appends arrive on the transport's goroutines.
type rateWindow struct {
	mu    sync.Mutex
	at    [rateSamples]int64 // unix nanos; guarded by mu
	size  [rateSamples]int   // guarded by mu
	next  int                // slot the next sample goes to; guarded by mu
	n     int                // samples held; guarded by mu
	bytes int                // sum of the held sizes; guarded by mu
}

func (w *rateWindow) add(now time.Time, size int) {
	w.mu.Lock()
	if w.n == rateSamples {
		w.bytes -= w.size[w.next]
	} else {
		w.n++
	}
	w.at[w.next], w.size[w.next] = now.UnixNano(), size
	w.bytes += size
	w.next = (w.next + 1) % rateSamples
	w.mu.Unlock()
}

// rate is the rate over the held samples as of now: zero when the newest is
// older than rateQuiet, or when the samples span no time (one append).
func (w *rateWindow) rate(now time.Time) Rate {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n < 2 {
		return Rate{}
	}
	newest := w.at[(w.next+rateSamples-1)%rateSamples]
	oldest := w.at[(w.next+rateSamples-w.n)%rateSamples]
	if now.UnixNano()-newest > int64(rateQuiet) || newest <= oldest {
		return Rate{}
	}
	secs := float64(newest-oldest) / float64(time.Second)
	return Rate{Packets: float64(w.n) / secs, Bytes: float64(w.bytes) / secs}
}

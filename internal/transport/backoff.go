package transport

import (
	"math/rand/v2"
	"time"
)

// backoff spaces out reconnect attempts: it doubles from min to max and
// jitters each wait to between half and all of it, so members that lost a
// peer at the same moment do not all redial it in lockstep.
type backoff struct {
	min, max time.Duration
	cur      time.Duration // 0 before the first failure
}

// next returns how long to wait before the next attempt.
func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur < b.max:
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

// reset starts over from min after a connection succeeded.
func (b *backoff) reset() { b.cur = 0 }

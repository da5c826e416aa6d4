package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/httpapi"
	"github.com/arbor-kv/arbor/internal/raftnode"
)

var _ httpapi.WatchGuard = (*Server)(nil)

// A member cut off from the leader can serve no new event, yet etcd v2
// leaves its watches hanging silently. Here a member that has heard from no
// leader for cutOffWindow ends its watches with an error, and refuses new
// ones, until a leader is heard from again; clients then move to another
// member, as they do on any 500.
//
// The window is three election timeouts less two ticks, measured from the
// last message a leader sent this member (appends, heartbeats, snapshots;
// a follower gets one every heartbeat). A cut-off follower so ends its
// watches within three election timeouts of the cut. Raft's own signals
// come sooner but do not tell the cut from an ordinary election: PreVote
// drops a follower's leader after one to two election timeouts, and a new
// leader is normally heard from right after, well inside the window.
//
// A leader is its own contact while it leads. An isolated leader steps
// down through CheckQuorum once one to two election timeouts have passed
// without a quorum; as it cannot tell which, the loss is dated two election
// timeouts before the last moment it was seen leading, so it too ends its
// watches within three election timeouts of the cut (and at least one
// after stepping down, time enough to hear from a successor).

// cutOffWindow is how long a member may go without a leader's message
// before its watches end.
func cutOffWindow(tick time.Duration, electionTicks int) time.Duration {
	return time.Duration(3*electionTicks-2) * tick
}

// contactTracker decides, from successive Raft statuses, whether the member
// is cut off from the leader. Owned by one goroutine.
type contactTracker struct {
	window, election time.Duration
	// contact is the latest moment the member was in touch with a leader
	// (itself, while leading).
	contact time.Time
	leading bool
	// lastLeader is the last leader known (0: none since start).
	lastLeader uint64
}

func newContactTracker(start time.Time, tick time.Duration, electionTicks int) *contactTracker {
	return &contactTracker{
		window:   cutOffWindow(tick, electionTicks),
		election: time.Duration(electionTicks) * tick,
		contact:  start,
	}
}

// observe takes the status seen at now and reports whether the member is
// cut off.
func (c *contactTracker) observe(now time.Time, st raftnode.Status) bool {
	if st.Leader != 0 {
		c.lastLeader = st.Leader
	}
	if st.IsLeader {
		c.contact, c.leading = now, true
		return false
	}
	if c.leading {
		c.leading = false
		c.contact = c.contact.Add(-2 * c.election)
	}
	if st.LeaderHeard.After(c.contact) {
		c.contact = st.LeaderHeard
	}
	return now.Sub(c.contact) >= c.window
}

// cause explains a cut-off at now for the error clients get. etcd's own
// text for a member without a leader comes first.
func (c *contactTracker) cause(now time.Time, self uint64) string {
	silent := now.Sub(c.contact).Round(time.Millisecond)
	switch c.lastLeader {
	case 0:
		return fmt.Sprintf("etcdserver: no leader (none heard from since this member started %v ago)", silent)
	case self:
		return fmt.Sprintf("etcdserver: no leader (this member led until it lost its quorum; no leader heard from since, at least %v)", silent)
	}
	return fmt.Sprintf("etcdserver: no leader (lost contact with leader %x %v ago)", c.lastLeader, silent)
}

// cutOff holds the current contact epoch: a context that is cancelled, with
// the cut-off error as its cause, when the member is cut off, and replaced
// by a fresh one once it is back in touch. The zero value is an open epoch.
type cutOff struct {
	mu     sync.Mutex
	ctx    context.Context         // nil until first used; guarded by mu
	cancel context.CancelCauseFunc // guarded by mu
}

func (c *cutOff) current() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.openLocked()
	}
	return c.ctx
}

func (c *cutOff) openLocked() {
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
}

// set ends the current epoch with err (when cut is true) or opens a new one
// (when the member is back in touch). It reports whether anything changed.
func (c *cutOff) set(cut bool, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ended := c.ctx != nil && c.ctx.Err() != nil
	switch {
	case cut && !ended:
		if c.ctx == nil {
			c.openLocked()
		}
		c.cancel(err)
	case !cut && ended:
		c.openLocked()
	default:
		return false
	}
	return true
}

// monitorLeaderContact checks every tick whether the member is cut off from
// the leader, and ends or reopens the contact epoch accordingly.
func (s *Server) monitorLeaderContact() {
	defer s.wg.Done()
	tr := newContactTracker(time.Now(), s.cfg.TickInterval, s.cfg.ElectionTicks)
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.stopc:
			return
		}
		now := time.Now()
		cut := tr.observe(now, s.node.Status())
		var err error
		if cut {
			err = apierr.New(apierr.RaftInternal, tr.cause(now, s.id.MemberID), s.store.Index())
		}
		if !s.cutOff.set(cut, err) {
			continue
		}
		if cut {
			s.log.Warn("cut off from the leader: ending watches and refusing new ones", "cause", err)
		} else {
			s.log.Info("in touch with a leader again; serving watches", "leader", fmt.Sprintf("%x", tr.lastLeader))
		}
	}
}

// WatchContext derives from ctx the context a watch runs in: it ends, with
// an *apierr.Error (300, "etcdserver: no leader ...") as its cause, when
// this member is cut off from the leader. A member cut off already returns
// that error instead (with the current store index). Call cancel when the
// watch ends. (httpapi.WatchGuard)
func (s *Server) WatchContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	select {
	case <-s.stopc:
		return nil, nil, s.stoppedErr()
	default:
	}
	epoch := s.cutOff.current()
	if cause := context.Cause(epoch); cause != nil {
		if e, ok := cause.(*apierr.Error); ok {
			return nil, nil, apierr.New(e.Code, e.Cause, s.store.Index())
		}
		return nil, nil, cause
	}
	wctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(epoch, func() { cancel(context.Cause(epoch)) })
	return wctx, func() {
		stop()
		cancel(context.Canceled)
	}, nil
}

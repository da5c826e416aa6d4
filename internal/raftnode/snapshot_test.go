package raftnode

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// memNet delivers messages between nodes of one process, in order per
// destination, and sends MsgSnap the way a real transport must: the body
// streamed from the sender's snapshot file into the receiver's.
type memNet struct {
	mu    sync.Mutex
	nodes map[uint64]*Node
	queue map[uint64]chan raftpb.Message
	wg    sync.WaitGroup
	stopc chan struct{}
}

func newMemNet(t *testing.T) *memNet {
	mn := &memNet{nodes: map[uint64]*Node{}, queue: map[uint64]chan raftpb.Message{}, stopc: make(chan struct{})}
	t.Cleanup(func() { close(mn.stopc); mn.wg.Wait() })
	return mn
}

func (mn *memNet) add(n *Node) {
	mn.mu.Lock()
	defer mn.mu.Unlock()
	id := n.Identity.MemberID
	mn.nodes[id] = n
	q := make(chan raftpb.Message, 4096)
	mn.queue[id] = q
	mn.wg.Add(1)
	go func() {
		defer mn.wg.Done()
		for {
			select {
			case m := <-q:
				mn.deliver(m)
			case <-mn.stopc:
				return
			}
		}
	}()
}

func (mn *memNet) deliver(m raftpb.Message) {
	mn.mu.Lock()
	to, from := mn.nodes[m.To], mn.nodes[m.From]
	mn.mu.Unlock()
	if to == nil || from == nil {
		return
	}
	if m.Type != raftpb.MsgSnap {
		_ = to.Step(context.Background(), m)
		return
	}
	body := from.SnapshotBody(m.Snapshot.Metadata.Index)
	defer body.Close()
	if err := to.ReceiveSnapshot(context.Background(), m, body); err != nil {
		from.ReportSnapshot(m.To, raft.SnapshotFailure)
		return
	}
	from.ReportSnapshot(m.To, raft.SnapshotFinish)
}

func (mn *memNet) Send(msgs []raftpb.Message) {
	mn.mu.Lock()
	defer mn.mu.Unlock()
	for _, m := range msgs {
		if q, ok := mn.queue[m.To]; ok {
			select {
			case q <- m:
			default: // dropped; Raft retransmits
			}
		}
	}
}

// listMachine is a state machine of applied strings whose snapshot is
// their list, one per line.
type listMachine struct {
	mu      sync.Mutex
	items   []string
	snaps   int    // snapshots installed from a leader
	members string // the membership record of the last one
}

func (l *listMachine) restore(r io.Reader) error {
	var items []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		items = append(items, sc.Text())
	}
	l.mu.Lock()
	l.items = items
	l.mu.Unlock()
	return sc.Err()
}

func (l *listMachine) snapshot() func(io.Writer) error {
	l.mu.Lock()
	body := strings.Join(l.items, "\n") + "\n"
	l.mu.Unlock()
	return func(w io.Writer) error { _, err := io.WriteString(w, body); return err }
}

func (l *listMachine) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

// runListMember starts a node with the list machine and an apply loop that
// also makes snapshots on demand.
func runListMember(t *testing.T, id uint64, peers []raft.Peer, mn *memNet) (*Node, *listMachine) {
	t.Helper()
	lm := &listMachine{}
	n, err := Start(Config{
		Identity: Identity{MemberID: id, ClusterID: 9, Name: fmt.Sprint(id)}, DataDir: t.TempDir(), Peers: peers,
		TickInterval: 10 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1, Transport: mn,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, lm.restore)
	if err != nil {
		t.Fatal(err)
	}
	mn.add(n)
	done := make(chan struct{})
	var applied uint64
	saveNow := func() {
		term, err := n.Term(applied)
		if err != nil {
			t.Errorf("term of %d: %v", applied, err)
			return
		}
		if err := n.SaveSnapshot(applied, term, n.ConfState(), fmt.Appendf(nil, "members@%d", applied), lm.snapshot()); err != nil {
			t.Errorf("save snapshot: %v", err)
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case a, ok := <-n.Apply():
				if !ok {
					return
				}
				if a.Snapshot != nil {
					if err := n.LoadSnapshot(a.Snapshot.Index, lm.restore); err != nil {
						t.Errorf("load snapshot: %v", err)
					}
					lm.mu.Lock()
					lm.snaps++
					lm.members = string(a.Snapshot.Members)
					lm.mu.Unlock()
					applied = a.Snapshot.Index
					a.Done()
					continue
				}
				for _, e := range a.Entries {
					applyTestEntry(n, e, func(data []byte) {
						lm.mu.Lock()
						lm.items = append(lm.items, string(data))
						lm.mu.Unlock()
					})
					applied = e.Index
				}
				a.Done()
			case <-n.SnapshotWanted():
				saveNow()
			}
		}
	}()
	t.Cleanup(func() { n.Stop(); <-done })
	return n, lm
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A member that joins after the leader trimmed its log gets a snapshot
// made on demand, streamed from the leader's file, then the entries after it.
func TestJoiningMemberGetsSnapshotMadeOnDemand(t *testing.T) {
	mn := newMemNet(t)
	a, am := runListMember(t, 1, []raft.Peer{{ID: 1}}, mn)
	_ = a.Campaign(context.Background())
	waitFor(t, "leader", func() bool { return a.Status().IsLeader })
	ctx := context.Background()
	for i := range 50 {
		if err := a.Propose(ctx, fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "50 applied", func() bool { return len(am.get()) == 50 })
	// Trim the log past any snapshot, as a long-running single voter does.
	last, _ := a.storage.LastIndex()
	if err := a.storage.Compact(last - 5); err != nil {
		t.Fatal(err)
	}

	b, bm := runListMember(t, 2, nil, mn)
	if err := a.ProposeConfChange(ctx, raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 50; i < 60; i++ {
		if err := a.Propose(ctx, fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the new member to catch up", func() bool { return len(bm.get()) == 60 })
	if got, want := bm.get(), am.get(); !slices.Equal(got, want) {
		t.Fatalf("new member's state %v, leader's %v", got, want)
	}
	bm.mu.Lock()
	snaps, members := bm.snaps, bm.members
	bm.mu.Unlock()
	if snaps != 1 || !strings.HasPrefix(members, "members@") {
		t.Fatalf("new member installed %d snapshots (members record %q), want 1 with the leader's record", snaps, members)
	}
	if cs := b.ConfState(); !slices.Equal(cs.Voters, []uint64{1, 2}) {
		t.Fatalf("new member's voters %v", cs.Voters)
	}
	// Writes go on through the new member's forwarded proposals, too.
	if err := b.Propose(ctx, []byte("from-b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "forwarded write", func() bool { s := am.get(); return len(s) == 61 && s[60] == "from-b" })
}

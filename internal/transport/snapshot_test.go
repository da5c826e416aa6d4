package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/transport/faultnet"
)

// Snapshot bodies are generated, never held: block k is baseBlock with k
// stamped into its first 8 bytes, so the receiver can check every byte
// and its position.
const blockSize = 64 << 10

var baseBlock = func() []byte {
	b := make([]byte, blockSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

type genReader struct {
	size, off int64
	cur       []byte // the block containing off
	closed    atomic.Bool
}

func newGen(size int64) *genReader {
	return &genReader{size: size, cur: make([]byte, blockSize)}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	in := g.off % blockSize
	if in == 0 {
		copy(g.cur, baseBlock)
		binary.BigEndian.PutUint64(g.cur, uint64(g.off/blockSize))
	}
	n := copy(p, g.cur[in:min(blockSize, in+g.size-g.off)])
	g.off += int64(n)
	return n, nil
}

func (g *genReader) Close() error {
	g.closed.Store(true)
	return nil
}

// verifyBody reads a generated body of the given size, checking each block.
func verifyBody(body io.Reader, size int64) error {
	got, want := make([]byte, blockSize), make([]byte, blockSize)
	copy(want, baseBlock)
	for k := int64(0); k < size/blockSize; k++ {
		if _, err := io.ReadFull(body, got); err != nil {
			return fmt.Errorf("block %d: %w", k, err)
		}
		binary.BigEndian.PutUint64(want, uint64(k))
		if !bytes.Equal(got, want) {
			return fmt.Errorf("block %d differs", k)
		}
	}
	if n, err := body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("after %d bytes: %d more, %v", size, n, err)
	}
	return nil
}

func snapMsg(from, to, index uint64) raftpb.Message {
	return raftpb.Message{Type: raftpb.MsgSnap, From: from, To: to, Term: 3, Snapshot: &raftpb.Snapshot{
		Metadata: raftpb.SnapshotMetadata{Index: index, Term: 3, ConfState: raftpb.ConfState{Voters: []uint64{from, to}}}}}
}

func TestSnapshotIsStreamedWithBoundedMemory(t *testing.T) {
	const size = 50 << 20
	nw := faultnet.New()
	gen := newGen(size)
	a := newMember(t, nw, 1, func(_ *Config, r *recorder) {
		r.open = func(m raftpb.Message) (io.ReadCloser, error) {
			if m.Snapshot.Metadata.Index != 1234 {
				return nil, fmt.Errorf("asked for snapshot %d", m.Snapshot.Metadata.Index)
			}
			return gen, nil
		}
	})
	var saved atomic.Bool
	b := newMember(t, nw, 2, func(_ *Config, r *recorder) {
		r.save = func(ctx context.Context, m raftpb.Message, body io.Reader) error {
			if err := verifyBody(body, size); err != nil {
				return err
			}
			saved.Store(true)
			return nil
		}
		r.process = func(ctx context.Context, m raftpb.Message) error {
			if m.Type == raftpb.MsgSnap && !saved.Load() {
				return errors.New("snapshot stepped before it was saved")
			}
			return nil
		}
	})
	connect(t, a, b)
	a.waitConnected(2)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sendReturns(t, a.tr, []raftpb.Message{snapMsg(1, 2, 1234)})
	eventually(t, "the snapshot is reported", func() bool { return len(a.rec.snapshotReports()) > 0 })
	runtime.ReadMemStats(&after)

	if got := a.rec.snapshotReports(); !slices.Equal(got, []raft.SnapshotStatus{raft.SnapshotFinish}) {
		t.Fatalf("reports %v", got)
	}
	// Everything allocated during the transfer, on both sides, is a
	// fraction of the body: nothing held it whole.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("a %d MiB snapshot allocated %d MiB", size>>20, alloc>>20)
	}
	if !gen.closed.Load() {
		t.Fatal("the snapshot source was not closed")
	}
	b.rec.mu.Lock()
	got := b.rec.msgs[1]
	b.rec.mu.Unlock()
	if len(got) != 1 || got[0].Type != raftpb.MsgSnap || got[0].Snapshot.Metadata.Index != 1234 ||
		!slices.Equal(got[0].Snapshot.Metadata.ConfState.Voters, []uint64{1, 2}) {
		t.Fatalf("receiver stepped %+v", got)
	}
	if st := a.peer(2); st.Counts.Success != 1 || st.Counts.Fail != 0 {
		t.Fatalf("counts %+v", st.Counts)
	}
	if !contains(b.logs.String(), "snapshot received") || !contains(a.logs.String(), "snapshot sent") {
		t.Fatalf("transfer not logged:\n%s\n%s", a.logs, b.logs)
	}
}

func TestSnapshotFailsWhenReceiverDies(t *testing.T) {
	nw := faultnet.New()
	gen := newGen(1 << 40)
	a := newMember(t, nw, 1, func(_ *Config, r *recorder) {
		r.open = func(raftpb.Message) (io.ReadCloser, error) { return gen, nil }
	})
	started := make(chan struct{})
	b := newMember(t, nw, 2, func(_ *Config, r *recorder) {
		r.save = func(ctx context.Context, m raftpb.Message, body io.Reader) error {
			if _, err := io.CopyN(io.Discard, body, 4<<20); err != nil {
				return err
			}
			close(started)
			_, err := io.Copy(io.Discard, body)
			return err
		}
	})
	connect(t, a, b)
	a.waitConnected(2)
	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 9)})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("transfer did not start")
	}
	b.stop() // mid-transfer, connections cut
	eventually(t, "the failure is reported", func() bool { return len(a.rec.snapshotReports()) > 0 })
	if got := a.rec.snapshotReports(); !slices.Equal(got, []raft.SnapshotStatus{raft.SnapshotFailure}) {
		t.Fatalf("reports %v", got)
	}
	if a.rec.unreachableCount(2) == 0 || a.peer(2).Counts.Fail == 0 {
		t.Fatal("failed snapshot not counted as unreachable and failed")
	}
	if !gen.closed.Load() {
		t.Fatal("the snapshot source was not closed")
	}
}

func TestStalledSnapshotFails(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, func(c *Config, r *recorder) {
		c.IdleTimeout = 300 * time.Millisecond
		c.PingInterval = 50 * time.Millisecond
		r.open = func(raftpb.Message) (io.ReadCloser, error) { return newGen(1 << 40), nil }
	})
	b := newMember(t, nw, 2, func(_ *Config, r *recorder) {
		r.save = func(ctx context.Context, m raftpb.Message, body io.Reader) error {
			io.CopyN(io.Discard, body, 1<<20)
			<-ctx.Done() // stops reading; the sender's writes back up
			return ctx.Err()
		}
	})
	connect(t, a, b)
	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 9)})
	eventually(t, "the stall is reported", func() bool { return len(a.rec.snapshotReports()) > 0 })
	if got := a.rec.snapshotReports(); got[0] != raft.SnapshotFailure {
		t.Fatalf("reports %v", got)
	}
	eventually(t, "the stall is logged", func() bool { return contains(a.logs.String(), "no progress") })
}

func TestRefusedSnapshotFails(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, func(_ *Config, r *recorder) {
		r.open = func(raftpb.Message) (io.ReadCloser, error) { return newGen(1 << 20), nil }
	})
	b := newMember(t, nw, 2, func(_ *Config, r *recorder) {
		r.save = func(ctx context.Context, m raftpb.Message, body io.Reader) error {
			io.Copy(io.Discard, body)
			return errors.New("disk full")
		}
	})
	connect(t, a, b)
	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 9)})
	eventually(t, "the failure is reported", func() bool { return len(a.rec.snapshotReports()) > 0 })
	if got := a.rec.snapshotReports(); !slices.Equal(got, []raft.SnapshotStatus{raft.SnapshotFailure}) {
		t.Fatalf("reports %v", got)
	}
	if !contains(a.logs.String(), "disk full") {
		t.Fatalf("the receiver's reason is not in the sender's log:\n%s", a.logs)
	}
	if len(b.rec.from(1)) != 0 {
		t.Fatal("a snapshot that was not saved was stepped")
	}
}

func TestSnapshotWithoutSourceOrPeerFailsAtOnce(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, func(c *Config, _ *recorder) { c.Snapshots = nil })
	b := newMember(t, nw, 2, nil)
	connect(t, a, b)
	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 9), snapMsg(1, 5, 9)})
	// Both reported within Send: no source, and an unknown peer.
	if got := a.rec.snapshotReports(); !slices.Equal(got, []raft.SnapshotStatus{raft.SnapshotFailure, raft.SnapshotFailure}) {
		t.Fatalf("reports %v", got)
	}
}

func TestOneSnapshotAtATimePerPeer(t *testing.T) {
	nw := faultnet.New()
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	a := newMember(t, nw, 1, func(_ *Config, r *recorder) {
		r.open = func(raftpb.Message) (io.ReadCloser, error) { return newGen(1 << 20), nil }
	})
	b := newMember(t, nw, 2, func(_ *Config, r *recorder) {
		r.save = func(ctx context.Context, m raftpb.Message, body io.Reader) error {
			<-release
			_, err := io.Copy(io.Discard, body)
			return err
		}
	})
	connect(t, a, b)
	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 9)})
	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 10)})
	if got := a.rec.snapshotReports(); !slices.Equal(got, []raft.SnapshotStatus{raft.SnapshotFailure}) {
		t.Fatalf("second snapshot while one is in flight: reports %v", got)
	}
	once.Do(func() { close(release) })
	eventually(t, "the first finishes", func() bool { return len(a.rec.snapshotReports()) == 2 })
	if got := a.rec.snapshotReports(); got[1] != raft.SnapshotFinish {
		t.Fatalf("reports %v", got)
	}
}

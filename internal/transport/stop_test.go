package transport

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/transport/faultnet"
)

// Stop must end every goroutine the transport started, including writers
// stuck on a partitioned link, a dialer waiting on a dead peer, a snapshot
// transfer in flight and inbound streams, and no callback may come after it.
func TestStopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	var recs []*recorder
	func() {
		nw := faultnet.New()
		gen := func(raftpb.Message) (io.ReadCloser, error) { return newGen(1 << 40), nil }
		a := newMember(t, nw, 1, func(_ *Config, r *recorder) { r.open = gen })
		b := newMember(t, nw, 2, func(_ *Config, r *recorder) {
			r.save = func(ctx context.Context, m raftpb.Message, body io.Reader) error {
				_, err := io.Copy(io.Discard, body)
				return err
			}
		})
		c := newMember(t, nw, 3, nil)
		connect(t, a, b, c)
		if err := a.tr.AddPeer(4, []string{"http://" + closedAddr(t)}); err != nil {
			t.Fatal(err)
		}
		a.waitConnected(2, 3)
		b.waitConnected(1, 3)
		c.waitConnected(1, 2)
		for seq := uint64(1); seq <= 100; seq++ {
			a.tr.Send([]raftpb.Message{msg(1, 2, seq), msg(1, 3, seq), msg(1, 4, seq)})
		}
		a.tr.Send([]raftpb.Message{snapMsg(1, 2, 5)})
		eventually(t, "traffic", func() bool { return len(c.rec.from(1)) == 100 })
		nw.Partition([]uint64{3}, []uint64{1, 2})
		for seq := uint64(1); seq <= 100; seq++ {
			c.tr.Send([]raftpb.Message{msg(3, 1, seq), msg(3, 2, seq)})
		}
		for _, m := range []*member{a, b, c} {
			m.stop()
			recs = append(recs, m.rec)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Stop:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, r := range recs {
		if n := r.lateCalls(); n > 0 {
			t.Errorf("member %d: %d Raft calls after Stop returned", i+1, n)
		}
	}
}

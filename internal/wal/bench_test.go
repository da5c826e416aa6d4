package wal

import (
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// BenchmarkSave measures one Save (one write, one fdatasync) of a batch of
// 300-byte entries: the floor under every Raft round trip.
func BenchmarkSave(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			w, err := Create(b.TempDir(), []byte("bench"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			data := make([]byte, 300)
			ents := make([]raftpb.Entry, batch)
			b.SetBytes(int64(batch * len(data)))
			b.ReportAllocs()
			next := uint64(1)
			for b.Loop() {
				for i := range ents {
					ents[i] = raftpb.Entry{Index: next, Term: 1, Data: data}
					next++
				}
				if err := w.Save(raftpb.HardState{Term: 1, Vote: 1, Commit: next - 1}, ents); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/raftnode"
	"github.com/arbor-kv/arbor/internal/server"
	"github.com/arbor-kv/arbor/internal/store"
	"github.com/arbor-kv/arbor/internal/testutil"
	"github.com/arbor-kv/arbor/internal/wal"
)

func startServer(t *testing.T, dir string, snapshotCount uint64) *server.Server {
	t.Helper()
	s, err := server.Start(server.Config{
		Name:          "src",
		DataDir:       dir,
		SnapshotCount: snapshotCount,
		TickInterval:  10 * time.Millisecond,
		ElectionTicks: 10,
		SyncInterval:  10 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for s.Health(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("member did not become healthy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}

func mustWrite(t *testing.T, s *server.Server, r *store.Request) {
	t.Helper()
	r.Time = time.Now().UnixNano()
	if _, err := s.Write(context.Background(), r); err != nil {
		t.Fatalf("write %+v: %v", r, err)
	}
}

var ttlFields = regexp.MustCompile(`,"(?:ttl":\d+|expiration":"[^"]*")`)

// storeView is everything a client can read, TTLs aside (a restart extends
// them by the time without a leader): the recursive listing, hidden keys
// read by path, and the store index.
func storeView(t *testing.T, st *store.Store, hidden ...string) string {
	t.Helper()
	out := fmt.Sprintf("index %d\n", st.Index())
	for _, p := range append([]string{"/"}, hidden...) {
		ev, err := st.Get(p, true, true, time.Now())
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		out += ttlFields.ReplaceAllString(string(ev.Encode()), "") + "\n"
	}
	return out
}

func TestBackupRestartsWithSameStateAndNewIdentity(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	// First a run that snapshots, then one that only logs, so the backup
	// has to combine a snapshot with the entries after it.
	s := startServer(t, src, 8)
	for i := range 30 {
		mustWrite(t, s, &store.Request{Method: store.MethodPut, Path: fmt.Sprintf("/n/%d", i%7), Val: fmt.Sprint(i)})
	}
	s.Stop()
	if snaps, _ := filepath.Glob(filepath.Join(src, "snap", "*.snap")); len(snaps) == 0 {
		t.Fatal("the source took no snapshot: the test would not cover snapshot plus log")
	}
	s = startServer(t, src, 1<<40)
	mustWrite(t, s, &store.Request{Method: store.MethodPut, Path: "/dir/a", Val: "1"})
	mustWrite(t, s, &store.Request{Method: store.MethodPut, Path: "/dir/_hidden", Val: "h"})
	mustWrite(t, s, &store.Request{Method: store.MethodPut, Path: "/_private/key", Val: "p"})
	mustWrite(t, s, &store.Request{Method: store.MethodPut, Path: "/ttl", Val: "t", Expiration: time.Now().Add(time.Hour).UnixNano()})
	mustWrite(t, s, &store.Request{Method: store.MethodPut, Path: "/empty", Dir: true})
	mustWrite(t, s, &store.Request{Method: store.MethodDelete, Path: "/n/3"})
	want := storeView(t, s.Store(), "/dir/_hidden", "/_private")
	srcID := s.ID()
	s.Stop()
	before := testutil.TreeDigest(t, src, false)

	dst := filepath.Join(t.TempDir(), "backup")
	res, err := Run(Config{DataDir: src, BackupDir: dst})
	if err != nil {
		t.Fatal(err)
	}
	if testutil.TreeDigest(t, src, false) != before {
		t.Fatal("the backup changed the source data dir")
	}
	if res.SnapshotIndex == 0 || res.Entries == 0 {
		t.Fatalf("want a snapshot and entries after it: %+v", res)
	}
	if res.Source.MemberID != srcID || res.Backup.MemberID == srcID || res.Backup.ClusterID == res.Source.ClusterID ||
		res.Backup.Name != "src" {
		t.Fatalf("identities: %+v", res)
	}

	b := startServer(t, dst, 1<<40)
	if b.ID() != res.Backup.MemberID {
		t.Fatalf("backup started as %x, want %x", b.ID(), res.Backup.MemberID)
	}
	if got := storeView(t, b.Store(), "/dir/_hidden", "/_private"); got != want {
		t.Fatalf("backup state differs\n got: %s\nwant: %s", got, want)
	}
	// It takes writes, at the next index.
	next := b.Store().Index() + 1
	mustWrite(t, b, &store.Request{Method: store.MethodPut, Path: "/after", Val: "x"})
	if b.Store().Index() != next {
		t.Fatalf("index after a write %d, want %d", b.Store().Index(), next)
	}
}

// batch encodes requests as one EntryNormal payload (server/doc.go).
func batch(reqs ...*store.Request) []byte {
	b := []byte{0x01}
	b = binary.AppendUvarint(b, uint64(len(reqs)))
	for _, r := range reqs {
		m := r.Marshal()
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return b
}

func confChange(t *testing.T, id uint64) raftpb.Entry {
	cc, err := (&raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: id}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raftpb.Entry{Type: raftpb.EntryConfChange, Data: cc, Term: 1}
}

// writeLog makes a data dir whose WAL holds ents (indexes assigned from 1)
// with the commit index at commit.
func writeLog(t *testing.T, ents []raftpb.Entry, commit uint64) string {
	t.Helper()
	dir := t.TempDir()
	md, _ := json.Marshal(raftnode.Identity{MemberID: 7, ClusterID: 9, Name: "m"})
	w, err := wal.Create(WALDir(dir), md, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range ents {
		ents[i].Index = uint64(i + 1)
	}
	if err := w.Save(raftpb.HardState{Term: 1, Vote: 7, Commit: commit}, ents); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestUncommittedTailCountsOnlyForASingleVoter(t *testing.T) {
	put := func(k string) raftpb.Entry {
		return raftpb.Entry{Term: 1, Data: batch(&store.Request{Method: store.MethodPut, Path: k, Val: "v"})}
	}
	// A single voter commits its whole log when it restarts.
	src := writeLog(t, []raftpb.Entry{confChange(t, 7), put("/a"), put("/b")}, 2)
	res, err := Run(Config{DataDir: src, BackupDir: filepath.Join(t.TempDir(), "b")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index != 3 || res.StoreIndex != 2 {
		t.Fatalf("single voter: %+v, want raft index 3, store index 2", res)
	}
	// With two voters the tail may never commit.
	src = writeLog(t, []raftpb.Entry{confChange(t, 7), confChange(t, 8), put("/a"), put("/b")}, 3)
	res, err = Run(Config{DataDir: src, BackupDir: filepath.Join(t.TempDir(), "b")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index != 3 || res.StoreIndex != 1 {
		t.Fatalf("two voters: %+v, want raft index 3, store index 1", res)
	}
}

func TestErrors(t *testing.T) {
	src := writeLog(t, []raftpb.Entry{confChange(t, 7)}, 1)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	noWAL := t.TempDir()
	if err := os.Mkdir(filepath.Join(noWAL, "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	emptyLog := t.TempDir()
	w, err := wal.Create(WALDir(emptyLog), []byte(`{"memberID":7,"clusterID":9}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	badMeta := t.TempDir()
	w, err = wal.Create(WALDir(badMeta), []byte("not json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()

	for name, tc := range map[string]struct {
		data, backup string
		want         error
	}{
		"missing data dir":   {filepath.Join(t.TempDir(), "nope"), "", ErrNotDataDir},
		"data dir is a file": {file, "", ErrNotDataDir},
		"no WAL":             {noWAL, "", ErrNotDataDir},
		"no identity":        {badMeta, "", ErrNotDataDir},
		"empty log":          {emptyLog, "", ErrNoLog},
		"backup not empty":   {src, full, ErrBackupDirNotEmpty},
		"backup is source":   {src, src, ErrBackupDirNotEmpty},
		"backup in source":   {src, filepath.Join(src, "b"), ErrBackupDirNotEmpty},
	} {
		t.Run(name, func(t *testing.T) {
			backupDir := tc.backup
			if backupDir == "" {
				backupDir = filepath.Join(t.TempDir(), "b")
			}
			_, err := Run(Config{DataDir: tc.data, BackupDir: backupDir})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.backup == "" {
				if _, err := os.Stat(backupDir); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a failed backup left %s behind (%v)", backupDir, err)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(src, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused backup wrote into the source")
	}
}

// TestBackupOfARunningMember copies a member that keeps writing and taking
// snapshots (which release log segments) meanwhile: each copy must hold a
// consistent state, every write acknowledged before it began and a prefix
// of the ones after, with their indexes.
func TestBackupOfARunningMember(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	s := startServer(t, src, 8)
	var (
		acked   = make(chan uint64, 1<<16) // modifiedIndex of /load/<i>, in order
		stop    = make(chan struct{})
		written = make(chan int)
	)
	go func() {
		i := 0
		defer func() { written <- i }()
		for ; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev, err := s.Write(context.Background(), &store.Request{Method: store.MethodPut, Path: fmt.Sprintf("/load/%06d", i), Val: fmt.Sprint(i), Time: time.Now().UnixNano()})
			if err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
			acked <- ev.Index()
		}
	}()
	var indexes []uint64
	drain := func() {
		for {
			select {
			case idx := <-acked:
				indexes = append(indexes, idx)
			default:
				return
			}
		}
	}
	for round := range 3 {
		time.Sleep(30 * time.Millisecond) // let writes and snapshots happen between copies
		drain()
		before := len(indexes)
		dst := filepath.Join(t.TempDir(), "b")
		if _, err := Run(Config{DataDir: src, BackupDir: dst}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		m, err := read(dst, nil)
		if err != nil {
			t.Fatalf("round %d: reading the backup: %v", round, err)
		}
		ev, err := m.st.Get("/load", true, true, time.Now())
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		got := ev.Node.Nodes
		if len(got) < before {
			t.Fatalf("round %d: backup holds %d writes, %d were acknowledged before it began", round, len(got), before)
		}
		drain()
		for i, n := range got {
			if n.Key != fmt.Sprintf("/load/%06d", i) || *n.Value != fmt.Sprint(i) {
				t.Fatalf("round %d: entry %d is %s=%s: not a prefix of the writes", round, i, n.Key, *n.Value)
			}
			if i < len(indexes) && n.ModifiedIndex != indexes[i] {
				t.Fatalf("round %d: %s at index %d, acknowledged at %d", round, n.Key, n.ModifiedIndex, indexes[i])
			}
		}
		if m.st.Index() != got[len(got)-1].ModifiedIndex {
			t.Fatalf("round %d: store index %d, last write at %d", round, m.st.Index(), got[len(got)-1].ModifiedIndex)
		}
	}
	close(stop)
	if n := <-written; n < 50 {
		t.Fatalf("only %d writes during the test", n)
	}
}

func TestDamagedLogIsReportedAfterRetries(t *testing.T) {
	src := writeLog(t, []raftpb.Entry{confChange(t, 7), {Term: 1, Data: batch(&store.Request{Method: store.MethodPut, Path: "/a", Val: "v"})}}, 2)
	segs, _ := filepath.Glob(filepath.Join(WALDir(src), "*.wal"))
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the segment record's payload: a CRC failure with valid
	// records after it, which no running writer can produce for long.
	if _, err := f.WriteAt([]byte{0xff}, 12); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var logs bytes.Buffer
	_, err = Run(Config{DataDir: src, BackupDir: filepath.Join(t.TempDir(), "b"), Attempts: 2,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	var ce *wal.CorruptError
	if !errors.As(err, &ce) || ce.Path != segs[0] {
		t.Fatalf("err = %v, want a *wal.CorruptError naming %s", err, segs[0])
	}
	if n := bytes.Count(logs.Bytes(), []byte("reading the data dir again")); n != 1 {
		t.Fatalf("%d retries logged, want 1:\n%s", n, logs.String())
	}
}

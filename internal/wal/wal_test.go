package wal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/arbor-kv/arbor/internal/testutil"

	"go.etcd.io/raft/v3/raftpb"
)

// newLogger returns a logger whose output the test can read.
func newLogger() (*slog.Logger, *testutil.Buffer) {
	lb := &testutil.Buffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// mkEnts returns entries lo..hi (inclusive) of term with size-byte data
// that depends on index and term, so a mix-up shows.
func mkEnts(lo, hi, term uint64, size int) []raftpb.Entry {
	var ents []raftpb.Entry
	for i := lo; i <= hi; i++ {
		d := make([]byte, size)
		for j := range d {
			d[j] = byte(i*31 + term*7 + uint64(j))
		}
		ents = append(ents, raftpb.Entry{Index: i, Term: term, Type: raftpb.EntryNormal, Data: d})
	}
	return ents
}

func checkEnts(t *testing.T, got, want []raftpb.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d (%s vs %s)", len(got), len(want), span(got), span(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("entry %d: got index %d term %d (%d bytes), want index %d term %d (%d bytes)",
				i, g.Index, g.Term, len(g.Data), w.Index, w.Term, len(w.Data))
		}
	}
}

func span(ents []raftpb.Entry) string {
	if len(ents) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d..%d]", ents[0].Index, ents[len(ents)-1].Index)
}

func mustCreate(t *testing.T, dir string, opts ...Option) *WAL {
	t.Helper()
	w, err := Create(dir, []byte("member=1 cluster=2"), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	// Close is idempotent; closing at the end also stops the spare
	// segment being written before the test's temp dir is removed.
	t.Cleanup(func() { w.Close() })
	return w
}

func mustOpen(t *testing.T, dir string, snapIndex uint64, log *slog.Logger, opts ...Option) (*WAL, raftpb.HardState, []raftpb.Entry) {
	t.Helper()
	w, md, hs, ents, err := Open(dir, snapIndex, log, opts...)
	if err != nil {
		t.Fatalf("Open(%d): %v", snapIndex, err)
	}
	t.Cleanup(func() { w.Close() })
	if string(md) != "member=1 cluster=2" {
		t.Fatalf("metadata = %q", md)
	}
	return w, hs, ents
}

func mustSave(t *testing.T, w *WAL, hs raftpb.HardState, ents []raftpb.Entry) {
	t.Helper()
	if err := w.Save(hs, ents); err != nil {
		t.Fatal(err)
	}
}

func segPaths(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, s := range segs {
		ps = append(ps, s.path)
	}
	return ps
}

// recordOffsets lists the start offset of every valid record in a file.
func recordOffsets(t *testing.T, path string) []int {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	for off := 0; off < len(buf); {
		_, _, n, err := decodeRecord(buf[off:])
		if err != nil {
			break
		}
		offs = append(offs, off)
		off += n
	}
	return offs
}

// dirDigest fingerprints every file in dir, to prove Open left it alone.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", de.Name(), len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestRoundTripManySegments(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(4096))
	var all []raftpb.Entry
	var hs raftpb.HardState
	next := uint64(1)
	for i := range 300 {
		n := uint64(i%5 + 1)
		ents := mkEnts(next, next+n-1, 3, 40+i%90)
		next += n
		hs = raftpb.HardState{Term: 3, Vote: 2, Commit: next - 2}
		if i%7 == 0 {
			mustSave(t, w, raftpb.HardState{}, ents) // entries only
		} else {
			mustSave(t, w, hs, ents)
		}
		all = append(all, ents...)
	}
	mustSave(t, w, hs, nil) // hard state only, last word
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(segPaths(t, dir)); n < 5 {
		t.Fatalf("only %d segments; the test wants several", n)
	}

	w, gotHS, got := mustOpen(t, dir, 0, nil, SegmentSize(4096))
	checkEnts(t, got, all)
	if gotHS != hs {
		t.Fatalf("hard state %+v, want %+v", gotHS, hs)
	}
	// The reopened WAL appends where the log ended.
	more := mkEnts(next, next+9, 4, 100)
	hs2 := raftpb.HardState{Term: 4, Vote: 1, Commit: next}
	mustSave(t, w, hs2, more)
	w.Close()

	w, gotHS, got = mustOpen(t, dir, 0, nil)
	defer w.Close()
	checkEnts(t, got, append(all, more...))
	if gotHS != hs2 {
		t.Fatalf("hard state %+v, want %+v", gotHS, hs2)
	}
}

func TestEmptySaveIsNoop(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(4096))
	off := w.off
	mustSave(t, w, raftpb.HardState{}, nil)
	if w.off != off {
		t.Fatalf("empty Save wrote %d bytes", w.off-off)
	}
	w.Close()
	w, hs, ents := mustOpen(t, dir, 0, nil)
	defer w.Close()
	if hs != (raftpb.HardState{}) || len(ents) != 0 {
		t.Fatalf("fresh WAL gave hs %+v, %d entries", hs, len(ents))
	}
}

func TestOverwriteConflictingSuffix(t *testing.T) {
	for _, segSize := range []int64{DefaultSegmentSize, 512} {
		t.Run(fmt.Sprintf("segment=%d", segSize), func(t *testing.T) {
			dir := t.TempDir()
			w := mustCreate(t, dir, SegmentSize(segSize))
			mustSave(t, w, raftpb.HardState{Term: 1, Commit: 4}, mkEnts(1, 10, 1, 50))
			mustSave(t, w, raftpb.HardState{Term: 2, Commit: 4}, mkEnts(5, 7, 2, 50))
			w.Close()

			w, hs, got := mustOpen(t, dir, 0, nil)
			defer w.Close()
			want := append(mkEnts(1, 4, 1, 50), mkEnts(5, 7, 2, 50)...)
			checkEnts(t, got, want)
			if hs.Term != 2 {
				t.Fatalf("hard state %+v", hs)
			}
		})
	}
}

func TestOpenAfterSnapshotIndex(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(1024))
	mustSave(t, w, raftpb.HardState{Term: 1, Commit: 30}, mkEnts(1, 40, 1, 30))
	if err := w.SaveSnapshot(25, 1); err != nil {
		t.Fatal(err)
	}
	w.Close()

	w, hs, got := mustOpen(t, dir, 25, nil)
	w.Close()
	checkEnts(t, got, mkEnts(26, 40, 1, 30))
	if hs.Commit != 30 {
		t.Fatalf("commit %d", hs.Commit)
	}
	// A snapshot newer than the last hard state's commit raises it.
	w, hs, got = mustOpen(t, dir, 35, nil)
	w.Close()
	checkEnts(t, got, mkEnts(36, 40, 1, 30))
	if hs.Commit != 35 {
		t.Fatalf("commit %d, want raised to 35", hs.Commit)
	}
	// Opening with an older snapshot than one the log recorded is fine as
	// long as the log still holds the entries: the marker's entry matches.
	w, _, got = mustOpen(t, dir, 10, nil)
	w.Close()
	checkEnts(t, got, mkEnts(11, 40, 1, 30))
}

func TestSnapshotReplacingLog(t *testing.T) {
	// A follower far behind: entries 1..5, then a snapshot at 100 from the
	// leader, then entries after it.
	dir := t.TempDir()
	w := mustCreate(t, dir)
	mustSave(t, w, raftpb.HardState{Term: 1, Commit: 5}, mkEnts(1, 5, 1, 10))
	if err := w.SaveSnapshot(100, 3); err != nil {
		t.Fatal(err)
	}
	mustSave(t, w, raftpb.HardState{Term: 3, Commit: 100}, mkEnts(101, 103, 3, 10))
	w.Close()

	w, _, got := mustOpen(t, dir, 100, nil)
	w.Close()
	checkEnts(t, got, mkEnts(101, 103, 3, 10))

	// Without that snapshot, the log cannot be used.
	_, _, _, _, err := Open(dir, 0, nil)
	if !errors.Is(err, ErrSnapshotMismatch) {
		t.Fatalf("Open(0) = %v, want ErrSnapshotMismatch", err)
	}
	_, _, _, _, err = Open(dir, 3, nil)
	if !errors.Is(err, ErrSnapshotMismatch) {
		t.Fatalf("Open(3) = %v, want ErrSnapshotMismatch", err)
	}
}

func TestExistCreateOpenErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	if Exist(dir) {
		t.Fatal("Exist on a missing dir")
	}
	if _, _, _, _, err := Open(dir, 0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open missing dir: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := Open(dir, 0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open empty dir: %v", err)
	}
	// A leftover temp segment from a crashed Create is not a WAL and goes away.
	tmp := filepath.Join(dir, "0000000000000000-0000000000000001.wal.tmp")
	if err := os.WriteFile(tmp, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if Exist(dir) {
		t.Fatal("Exist counts a temp file")
	}
	w := mustCreate(t, dir)
	w.Close()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file survived Create: %v", err)
	}
	if !Exist(dir) {
		t.Fatal("Exist after Create")
	}
	if _, err := Create(dir, nil, nil); !errors.Is(err, ErrExist) {
		t.Fatalf("second Create: %v", err)
	}
	if err := w.Save(raftpb.HardState{Term: 1}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
}

// writeTornFixture writes n single-entry batches, each with a hard state,
// and returns the last segment's path, its bytes, and the offsets where the
// last batch starts and ends.
func writeTornFixture(t *testing.T, dir string, n int) (path string, orig []byte, lastStart, lastEnd int64) {
	t.Helper()
	w := mustCreate(t, dir, SegmentSize(8192))
	for i := 1; i <= n; i++ {
		if i == n {
			lastStart = w.off
		}
		mustSave(t, w, raftpb.HardState{Term: 1, Commit: uint64(i)}, mkEnts(uint64(i), uint64(i), 1, 20))
	}
	lastEnd = w.off
	w.Close()
	ps := segPaths(t, dir)
	path = ps[len(ps)-1]
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, orig, lastStart, lastEnd
}

func TestTornTailEveryCut(t *testing.T) {
	const n = 6
	base := t.TempDir()
	path, orig, lastStart, lastEnd := writeTornFixture(t, base, n)
	if len(segPaths(t, base)) != 1 {
		t.Fatal("fixture should fit one segment")
	}
	// The last batch is an entry record, then a hard state record. A cut
	// inside the entry loses both; a cut inside the hard state keeps the
	// entry (it was whole) and the previous hard state.
	entryEnd := int64(recordOffsets(t, path)[len(recordOffsets(t, path))-1])
	for cut := lastStart; cut < lastEnd; cut++ {
		wantN := uint64(n - 1)
		if cut >= entryEnd {
			wantN = n
		}
		for _, prealloc := range []bool{false, true} {
			// prealloc: the crash left the reserved zeros after the cut;
			// otherwise the file simply ends there.
			content := bytes.Clone(orig[:cut])
			if prealloc {
				content = append(content, make([]byte, len(orig)-int(cut))...)
			}
			dir := t.TempDir()
			p := filepath.Join(dir, filepath.Base(path))
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			log, lb := newLogger()
			w, hs, got := mustOpen(t, dir, 0, log, SegmentSize(8192))
			checkEnts(t, got, mkEnts(1, wantN, 1, 20))
			if hs.Commit != n-1 {
				t.Fatalf("cut %d: commit %d", cut, hs.Commit)
			}
			logged := strings.Contains(lb.String(), "torn")
			if want := cut != lastStart && cut != entryEnd; logged != want {
				t.Fatalf("cut %d prealloc %v: torn logged = %v, want %v; log: %s", cut, prealloc, logged, want, lb.String())
			}
			// The repaired log takes appends and reads back whole.
			mustSave(t, w, raftpb.HardState{Term: 2, Commit: n}, mkEnts(wantN+1, n+1, 2, 20))
			w.Close()
			w, hs, got = mustOpen(t, dir, 0, nil)
			w.Close()
			checkEnts(t, got, append(mkEnts(1, wantN, 1, 20), mkEnts(wantN+1, n+1, 2, 20)...))
			if hs.Term != 2 || hs.Commit != n {
				t.Fatalf("cut %d: hard state after repair %+v", cut, hs)
			}
		}
	}
}

func TestTornTailGarbageRecord(t *testing.T) {
	// A record with a plausible length but a bad CRC at the tail: torn.
	dir := t.TempDir()
	path, orig, _, lastEnd := writeTornFixture(t, dir, 4)
	bad := appendRecord(nil, typeEntry, []byte("this payload will not match its crc"))
	bad[headerSize+3] ^= 0x40
	content := append(bytes.Clone(orig[:lastEnd]), bad...)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	log, lb := newLogger()
	w, _, got := mustOpen(t, dir, 0, log)
	checkEnts(t, got, mkEnts(1, 4, 1, 20))
	if !strings.Contains(lb.String(), "crc mismatch") {
		t.Fatalf("repair not logged: %s", lb.String())
	}
	mustSave(t, w, raftpb.HardState{}, mkEnts(5, 5, 1, 20))
	w.Close()
	w, _, got = mustOpen(t, dir, 0, nil)
	w.Close()
	checkEnts(t, got, mkEnts(1, 5, 1, 20))
}

func TestCorruptionInLastSegment(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(1024))
	for i := uint64(1); i <= 80; i++ {
		mustSave(t, w, raftpb.HardState{Term: 1, Commit: i}, mkEnts(i, i, 1, 30))
	}
	w.Close()
	ps := segPaths(t, dir)
	if len(ps) < 3 {
		t.Fatalf("want several segments, got %d", len(ps))
	}
	last := ps[len(ps)-1]
	offs := recordOffsets(t, last)
	if len(offs) < 6 {
		t.Fatalf("last segment has only %d records", len(offs))
	}
	target := offs[len(offs)-4] // well before the tail, valid records follow
	flipByte(t, last, int64(target)+headerSize+2)
	before := dirDigest(t, dir)

	_, _, _, _, err := Open(dir, 0, nil)
	checkCorrupt(t, err, last, int64(target))
	if after := dirDigest(t, dir); after != before {
		t.Fatal("Open modified the directory despite corruption")
	}
}

func TestCorruptionInEarlierSegment(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(1024))
	for i := uint64(1); i <= 80; i++ {
		mustSave(t, w, raftpb.HardState{Term: 1, Commit: i}, mkEnts(i, i, 1, 30))
	}
	w.Close()
	ps := segPaths(t, dir)
	if len(ps) < 3 {
		t.Fatalf("want at least 3 segments, got %d", len(ps))
	}
	offs := recordOffsets(t, ps[0])
	// Both a record in the middle and the very last record of an earlier
	// segment are corruption: only the last segment can have a torn tail.
	for _, idx := range []int{3, len(offs) - 1} {
		t.Run(fmt.Sprintf("record%d", idx), func(t *testing.T) {
			d := t.TempDir()
			copyDir(t, dir, d)
			p := filepath.Join(d, filepath.Base(ps[0]))
			flipByte(t, p, int64(offs[idx])+headerSize)
			before := dirDigest(t, d)
			_, _, _, _, err := Open(d, 0, nil)
			checkCorrupt(t, err, p, int64(offs[idx]))
			if dirDigest(t, d) != before {
				t.Fatal("Open modified the directory despite corruption")
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		p := filepath.Join(d, filepath.Base(ps[1]))
		o := recordOffsets(t, p)
		if err := os.Truncate(p, int64(o[len(o)-1])+5); err != nil {
			t.Fatal(err)
		}
		_, _, _, _, err := Open(d, 0, nil)
		checkCorrupt(t, err, p, int64(o[len(o)-1]))
	})
	t.Run("missing", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		if err := os.Remove(filepath.Join(d, filepath.Base(ps[1]))); err != nil {
			t.Fatal(err)
		}
		_, _, _, _, err := Open(d, 0, nil)
		checkCorrupt(t, err, filepath.Join(d, filepath.Base(ps[2])), 0)
	})
}

func TestZeroedHeaderBeforeDataIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	path, orig, _, _ := writeTornFixture(t, dir, 5)
	offs := recordOffsets(t, path)
	target := offs[len(offs)-4]
	content := bytes.Clone(orig)
	clear(content[target : target+headerSize])
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err := Open(dir, 0, nil)
	checkCorrupt(t, err, path, int64(target))
}

func checkCorrupt(t *testing.T, err error, path string, off int64) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Open = %v, want *CorruptError", err)
	}
	if ce.Path != path || ce.Offset != off {
		t.Fatalf("CorruptError at %s:%d, want %s:%d (%v)", ce.Path, ce.Offset, path, off, ce)
	}
	if !strings.Contains(ce.Error(), fmt.Sprintf("%s at offset %d", path, off)) {
		t.Fatalf("message %q does not name the place", ce.Error())
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	des, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, de.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReleaseTo(t *testing.T) {
	dir := t.TempDir()
	log, lb := newLogger()
	w, err := Create(dir, []byte("member=1 cluster=2"), log, SegmentSize(1024))
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 200; i += 4 {
		mustSave(t, w, raftpb.HardState{Term: 2, Vote: 1, Commit: i}, mkEnts(i, i+3, 2, 40))
	}
	segs := append([]segment(nil), w.segs...)
	if len(segs) < 6 {
		t.Fatalf("want many segments, got %d", len(segs))
	}

	// Without a recorded snapshot nothing holding entries may go.
	if err := w.ReleaseTo(150); err != nil {
		t.Fatal(err)
	}
	if got := len(segPaths(t, dir)); got != len(segs) {
		t.Fatalf("ReleaseTo without a snapshot removed %d segments", len(segs)-got)
	}

	if err := w.SaveSnapshot(120, 2); err != nil {
		t.Fatal(err)
	}
	if err := w.ReleaseTo(120); err != nil {
		t.Fatal(err)
	}
	left := segPaths(t, dir)
	removed := len(segs) - len(left)
	if removed == 0 {
		t.Fatal("nothing released")
	}
	for i, s := range segs {
		_, statErr := os.Stat(s.path)
		gone := errors.Is(statErr, os.ErrNotExist)
		if gone != (i < removed) {
			t.Fatalf("segment %d (max index %d): gone = %v, want a removed prefix of %d", i, s.maxIndex, gone, removed)
		}
		if gone && s.maxIndex > 120 {
			t.Fatalf("released segment %d holding index %d > 120", i, s.maxIndex)
		}
	}
	if segs[removed].maxIndex <= 120 {
		t.Fatalf("segment %d (max %d) should have been released too", removed, segs[removed].maxIndex)
	}
	if !strings.Contains(lb.String(), "released segment") {
		t.Fatal("release not logged")
	}
	mustSave(t, w, raftpb.HardState{Term: 2, Vote: 1, Commit: 204}, mkEnts(201, 204, 2, 40))
	w.Close()

	w, hs, got := mustOpen(t, dir, 120, nil)
	checkEnts(t, got, mkEnts(121, 204, 2, 40))
	if hs != (raftpb.HardState{Term: 2, Vote: 1, Commit: 204}) {
		t.Fatalf("hard state %+v", hs)
	}
	// Releasing everything the snapshot covers never takes the segment
	// being written.
	if err := w.ReleaseTo(1 << 60); err != nil {
		t.Fatal(err)
	}
	if len(segPaths(t, dir)) == 0 {
		t.Fatal("released the segment being written")
	}
	w.Close()
	w, _, got = mustOpen(t, dir, 120, nil)
	w.Close()
	checkEnts(t, got, mkEnts(121, 204, 2, 40))

	// The entries before the first remaining segment are gone for good.
	if _, _, _, _, err := Open(dir, 0, nil); !errors.Is(err, ErrSnapshotMismatch) {
		t.Fatalf("Open(0) after release = %v, want ErrSnapshotMismatch", err)
	}
}

func TestReleaseEverythingKeepsHead(t *testing.T) {
	// After releasing all but the segment being written, metadata, the
	// last hard state and the snapshot marker still come back from its head.
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(512))
	for i := uint64(1); i <= 40; i++ {
		mustSave(t, w, raftpb.HardState{Term: 1, Commit: i}, mkEnts(i, i, 1, 40))
	}
	if err := w.SaveSnapshot(40, 1); err != nil {
		t.Fatal(err)
	}
	mustSave(t, w, raftpb.HardState{Term: 1, Commit: 40, Vote: 3}, nil)
	// Force a roll so the current segment holds no entries.
	for range 20 {
		mustSave(t, w, raftpb.HardState{Term: 1, Commit: 40, Vote: 3}, nil)
	}
	if err := w.ReleaseTo(40); err != nil {
		t.Fatal(err)
	}
	if n := len(segPaths(t, dir)); n != 1 {
		t.Fatalf("%d segments left, want 1", n)
	}
	w.Close()
	w, hs, got := mustOpen(t, dir, 40, nil)
	defer w.Close()
	if len(got) != 0 || hs != (raftpb.HardState{Term: 1, Commit: 40, Vote: 3}) {
		t.Fatalf("got %d entries, hs %+v", len(got), hs)
	}
	if w.snapIndex != 40 || w.snapTerm != 1 {
		t.Fatalf("snapshot marker lost: %d/%d", w.snapIndex, w.snapTerm)
	}
}

func TestCrashDuringRoll(t *testing.T) {
	// The old segment was finished (truncated to its data) but the new one
	// never appeared, or only as a temp file.
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(4096))
	mustSave(t, w, raftpb.HardState{Term: 1, Commit: 3}, mkEnts(1, 3, 1, 20))
	if err := w.f.Truncate(w.off); err != nil {
		t.Fatal(err)
	}
	w.Close()
	tmp := filepath.Join(dir, segmentName(1, 4)[:33]+tmpSuffix)
	if err := os.WriteFile(tmp, []byte{1, 2, 3}, 0o600); err != nil {
		t.Fatal(err)
	}
	w, _, got := mustOpen(t, dir, 0, nil, SegmentSize(4096))
	checkEnts(t, got, mkEnts(1, 3, 1, 20))
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("temp segment not removed")
	}
	mustSave(t, w, raftpb.HardState{}, mkEnts(4, 4, 1, 20))
	w.Close()
	w, _, got = mustOpen(t, dir, 0, nil)
	w.Close()
	checkEnts(t, got, mkEnts(1, 4, 1, 20))
}

func TestBatchLargerThanSegment(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(256))
	mustSave(t, w, raftpb.HardState{Term: 1}, mkEnts(1, 20, 1, 100))
	mustSave(t, w, raftpb.HardState{Term: 1}, mkEnts(21, 40, 1, 100))
	mustSave(t, w, raftpb.HardState{Term: 1}, mkEnts(41, 41, 1, 100))
	w.Close()
	if n := len(segPaths(t, dir)); n != 3 {
		t.Fatalf("%d segments, want 3 (one per oversized batch)", n)
	}
	w, _, got := mustOpen(t, dir, 0, nil)
	w.Close()
	checkEnts(t, got, mkEnts(1, 41, 1, 100))
}

func TestSaveRejects(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir)
	defer w.Close()
	ents := append(mkEnts(1, 2, 1, 1), mkEnts(4, 4, 1, 1)...)
	if err := w.Save(raftpb.HardState{}, ents); err == nil {
		t.Fatal("non-contiguous batch accepted")
	}
	big := []raftpb.Entry{{Index: 1, Term: 1, Data: make([]byte, MaxRecordSize)}}
	if err := w.Save(raftpb.HardState{}, big); err == nil {
		t.Fatal("oversized entry accepted")
	}
	// Rejections are not sticky: nothing was written.
	mustSave(t, w, raftpb.HardState{Term: 1}, mkEnts(1, 1, 1, 1))
}

func TestParseSegmentName(t *testing.T) {
	good := segmentName(0x1a, 0x2b)
	if seq, first, ok := parseSegmentName(good); !ok || seq != 0x1a || first != 0x2b {
		t.Fatalf("parse %q = %d %d %v", good, seq, first, ok)
	}
	for _, bad := range []string{
		"", "x.wal", good + ".tmp", good[:len(good)-4] + ".snap",
		"000000000000001A-000000000000002b.wal", // upper case is not what we write
		"000000000000001a_000000000000002b.wal",
		"00000000000001a-0000000000000002b.wal",
		"+00000000000001a-000000000000002b.wal",
	} {
		if _, _, ok := parseSegmentName(bad); ok {
			t.Errorf("parse %q accepted", bad)
		}
	}
}

// Only what Raft must not lose is synced: entries and term/vote changes.
// A commit-only hard state rides on the next sync yet is still read back.
func TestSaveSyncsOnlyWhenRaftRequires(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir)
	base := w.syncs
	mustSave(t, w, raftpb.HardState{Term: 1, Vote: 1, Commit: 0}, mkEnts(1, 3, 1, 10))
	if w.syncs != base+1 {
		t.Fatalf("entries + new term: %d syncs, want 1", w.syncs-base)
	}
	mustSave(t, w, raftpb.HardState{Term: 1, Vote: 1, Commit: 3}, nil)
	if w.syncs != base+1 {
		t.Fatal("a commit-only hard state was fsynced")
	}
	mustSave(t, w, raftpb.HardState{Term: 2, Vote: 1, Commit: 3}, nil)
	if w.syncs != base+2 {
		t.Fatal("a term change was not fsynced")
	}
	w.Close()
	_, hs, ents := mustOpen(t, dir, 0, nil)
	if hs.Commit != 3 || hs.Term != 2 || len(ents) != 3 {
		t.Fatalf("reopened: hs %+v, %d entries", hs, len(ents))
	}
}

// Release drops segments from the log but leaves their files to Remove; a
// crash between the two, even with a segment already renamed for its
// gradual removal, leaves a log that opens with every entry after the
// snapshot.
func TestReleaseThenRemove(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(1024))
	for i := uint64(1); i <= 200; i += 4 {
		mustSave(t, w, raftpb.HardState{Term: 2, Commit: i}, mkEnts(i, i+3, 2, 40))
	}
	if err := w.SaveSnapshot(120, 2); err != nil {
		t.Fatal(err)
	}
	before := len(segPaths(t, dir))
	r, err := w.Release(120)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.paths) < 2 {
		t.Fatalf("released %d segments, want several", len(r.paths))
	}
	if got := len(segPaths(t, dir)); got != before {
		t.Fatalf("Release deleted files: %d -> %d", before, got)
	}
	// The crash: the oldest was being removed gradually.
	if err := os.Rename(r.paths[0], r.paths[0]+tmpSuffix); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, _, got := mustOpen(t, dir, 120, nil, SegmentSize(1024))
	checkEnts(t, got, mkEnts(121, 200, 2, 40))
	if _, err := os.Stat(r.paths[0] + tmpSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("half-removed segment left after Open: %v", err)
	}
	if err := w.SaveSnapshot(120, 2); err != nil {
		t.Fatal(err)
	}
	r, err = w.Release(120)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.paths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s not removed: %v", p, err)
		}
	}
	w.Close()
	w, _, got = mustOpen(t, dir, 120, nil)
	w.Close()
	checkEnts(t, got, mkEnts(121, 200, 2, 40))
}

// Open reads every segment into one buffer. Segments differ in size by a
// few bytes (a finished one is cut to its records), so the buffer grown
// for the first must also hold a slightly larger second without growing
// again: each growth costs a fresh segment's worth of page faults.
func TestReadFileIntoReusesBuffer(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, size := range []int{100_000, 100_017, 100_000 + 100_000/8} {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte('a' + i)}, size), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var buf []byte
	var first *byte
	for i, p := range paths {
		var err error
		if buf, err = readFileInto(buf, p); err != nil {
			t.Fatal(err)
		}
		if want, _ := os.ReadFile(p); !bytes.Equal(buf, want) {
			t.Fatalf("segment %d read wrong", i)
		}
		if i == 0 {
			first = &buf[0]
		} else if &buf[0] != first {
			t.Fatalf("segment %d (%d bytes) needed a new buffer after one of %d", i, len(buf), 100_000)
		}
	}
}

// With HoldSyncs, a sync holds its P only after a quick one and with
// another P to run goroutines meanwhile (see fdatasync); without it, never.
// Either way the data is durable.
func TestSyncHoldsItsPOnlyWhenAskedAndSyncsAreQuick(t *testing.T) {
	prev := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(prev)
	save := func(w *WAL, i uint64) (held bool) {
		t.Helper()
		before := HeldSyncs.Load()
		mustSave(t, w, raftpb.HardState{Term: 1, Vote: 1, Commit: i}, mkEnts(i, i, 1, 10))
		return HeldSyncs.Load() > before
	}

	if save(mustCreate(t, t.TempDir()), 1) {
		t.Fatal("a sync held its P without HoldSyncs")
	}

	dir := t.TempDir()
	w := mustCreate(t, dir, HoldSyncs(true))
	w.lastSync = 0
	if !save(w, 1) {
		t.Fatal("a sync after a quick one did not hold its P")
	}
	w.lastSync = holdSyncUnder
	if save(w, 2) {
		t.Fatal("a sync after a slow one held its P")
	}
	runtime.GOMAXPROCS(1)
	w.lastSync = 0
	if save(w, 3) {
		t.Fatal("a sync held the only P")
	}
	w.Close()
	_, _, ents := mustOpen(t, dir, 0, nil)
	if len(ents) != 3 {
		t.Fatalf("reopened: %d entries, want 3", len(ents))
	}
}

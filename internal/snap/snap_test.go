package snap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
	return slog.New(slog.NewTextHandler(lb, nil)), lb
}

// chunk fills b with bytes determined by seed and chunk number, so a body
// can be generated and checked piecewise without ever existing whole.
func chunk(b []byte, seed uint64, n int) {
	x := seed*0x9e3779b97f4a7c15 + uint64(n)*0xbf58476d1ce4e5b9 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}

const chunkSize = 64 << 10

func writeBody(seed uint64, chunks int) func(io.Writer) error {
	return func(w io.Writer) error {
		b := make([]byte, chunkSize)
		for i := range chunks {
			chunk(b, seed, i)
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	}
}

// checkBody returns a restore function verifying the body chunk by chunk,
// and the list of Metas it was called with.
func checkBody(t *testing.T, seeds map[uint64]uint64, chunks int) (func(Meta, io.Reader) error, *[]Meta) {
	var calls []Meta
	return func(m Meta, r io.Reader) error {
		calls = append(calls, m)
		seed := seeds[m.Index]
		got := make([]byte, chunkSize)
		want := make([]byte, chunkSize)
		for i := range chunks {
			if _, err := io.ReadFull(r, got); err != nil {
				return fmt.Errorf("chunk %d: %w", i, err)
			}
			chunk(want, seed, i)
			if !bytes.Equal(got, want) {
				return fmt.Errorf("chunk %d differs", i)
			}
		}
		if n, _ := io.Copy(io.Discard, r); n != 0 {
			return fmt.Errorf("%d extra bytes", n)
		}
		return nil
	}, &calls
}

var testConf = raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}}

func mustSave(t *testing.T, dir string, index, term uint64, seed uint64, chunks int) string {
	t.Helper()
	p, err := Save(dir, Meta{Index: index, Term: term, ConfState: testConf}, writeBody(seed, chunks))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func TestSaveLoadLargeStreamed(t *testing.T) {
	const chunks = 800 // 50 MiB
	dir := t.TempDir()
	before := totalAlloc()
	p := mustSave(t, dir, 1000, 7, 42, chunks)
	if a := totalAlloc() - before; a > 4<<20 {
		t.Fatalf("Save allocated %d bytes for a %d-byte body: it must stream", a, chunks*chunkSize)
	}
	if filepath.Base(p) != "0000000000000007-00000000000003e8.snap" {
		t.Fatalf("path %s", p)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < chunks*chunkSize {
		t.Fatalf("file is only %d bytes", st.Size())
	}

	restore, calls := checkBody(t, map[uint64]uint64{1000: 42}, chunks)
	before = totalAlloc()
	meta, err := Load(dir, nil, restore)
	if err != nil {
		t.Fatal(err)
	}
	if a := totalAlloc() - before; a > 4<<20 {
		t.Fatalf("Load allocated %d bytes: it must stream", a)
	}
	if meta.Index != 1000 || meta.Term != 7 || fmt.Sprint(meta.ConfState) != fmt.Sprint(testConf) {
		t.Fatalf("meta %+v", meta)
	}
	if len(*calls) != 1 {
		t.Fatalf("restore called %d times", len(*calls))
	}
}

func TestLoadFallsBackFromDamagedNewest(t *testing.T) {
	const chunks = 4
	for _, tc := range []struct {
		name        string
		damage      func(t *testing.T, path string)
		restoreFail bool
		calls       int // restore calls expected: 2 when the damage shows only after reading
	}{
		{name: "body byte flipped", damage: flipAt(-5000), calls: 2},
		{name: "last crc byte flipped", damage: flipAt(-1), calls: 2},
		{name: "header byte flipped", damage: flipAt(20), calls: 1},
		{name: "magic flipped", damage: flipAt(0), calls: 1},
		{name: "truncated", damage: truncateBy(1000), calls: 1},
		{name: "truncated to header", damage: truncateTo(30), calls: 1},
		{name: "empty", damage: truncateTo(0), calls: 1},
		{name: "restore fails", restoreFail: true, calls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustSave(t, dir, 10, 1, 1, chunks)
			newest := mustSave(t, dir, 20, 2, 2, chunks)
			if tc.damage != nil {
				tc.damage(t, newest)
			}
			restore, calls := checkBody(t, map[uint64]uint64{10: 1, 20: 2}, chunks)
			if tc.restoreFail {
				inner := restore
				restore = func(m Meta, r io.Reader) error {
					if m.Index == 20 {
						*calls = append(*calls, m)
						return errors.New("store refused it")
					}
					return inner(m, r)
				}
			}
			log, lb := newLogger()
			meta, err := Load(dir, log, restore)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Index != 10 || meta.Term != 1 {
				t.Fatalf("loaded %+v, want the older snapshot", meta)
			}
			if len(*calls) != tc.calls {
				t.Fatalf("restore called %d times (%v), want %d", len(*calls), *calls, tc.calls)
			}
			if !strings.Contains(lb.String(), filepath.Base(newest)) {
				t.Fatalf("fallback not logged: %s", lb.String())
			}
		})
	}
}

func TestLoadChecksUnreadRest(t *testing.T) {
	dir := t.TempDir()
	mustSave(t, dir, 10, 1, 1, 4)
	p := mustSave(t, dir, 20, 2, 2, 4)
	readHalf := func(m Meta, r io.Reader) error {
		_, err := io.ReadFull(r, make([]byte, 2*chunkSize))
		return err
	}
	// Unread but intact: fine.
	if meta, err := Load(dir, nil, readHalf); err != nil || meta.Index != 20 {
		t.Fatalf("Load = %+v, %v", meta, err)
	}
	// Damage in the part restore never read still counts.
	flipAt(-100)(t, p)
	if meta, err := Load(dir, nil, readHalf); err != nil || meta.Index != 10 {
		t.Fatalf("Load = %+v, %v; want fallback to 10", meta, err)
	}
}

func TestLoadNothingUsable(t *testing.T) {
	restore := func(Meta, io.Reader) error { return nil }
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), nil, restore); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("missing dir: %v", err)
	}
	dir := t.TempDir()
	if _, err := Load(dir, nil, restore); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("empty dir: %v", err)
	}
	p := mustSave(t, dir, 5, 1, 1, 1)
	truncateBy(3)(t, p)
	writeFile(t, filepath.Join(dir, "0000000000000009-0000000000000009.snap.123.tmp"), []byte("partial"))
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("hello"))
	if _, err := Load(dir, nil, restore); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("only damaged/temp files: %v", err)
	}
}

func TestRenamedFileRejected(t *testing.T) {
	dir := t.TempDir()
	p := mustSave(t, dir, 5, 1, 1, 1)
	if err := os.Rename(p, filepath.Join(dir, fileName(1, 6))); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, nil, func(Meta, io.Reader) error { return nil }); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("renamed file loaded: %v", err)
	}
}

func TestTempFilesIgnoredAndPurged(t *testing.T) {
	dir := t.TempDir()
	mustSave(t, dir, 10, 1, 1, 1)
	leftover := filepath.Join(dir, fileName(1, 30)+".98765.tmp")
	writeFile(t, leftover, []byte("a crashed save"))

	restore, _ := checkBody(t, map[uint64]uint64{10: 1}, 1)
	if meta, err := Load(dir, nil, restore); err != nil || meta.Index != 10 {
		t.Fatalf("Load = %+v, %v", meta, err)
	}

	// A Purge during a Save removes the crash leftover, not the live temp file.
	var sawTemp bool
	_, err := Save(dir, Meta{Index: 20, Term: 1}, func(w io.Writer) error {
		if err := Purge(dir, 5); err != nil {
			return err
		}
		des, _ := os.ReadDir(dir)
		for _, de := range des {
			if isTempName(de.Name()) {
				if filepath.Join(dir, de.Name()) == leftover {
					return errors.New("leftover temp file survived Purge")
				}
				sawTemp = true
			}
		}
		_, err := w.Write([]byte("body"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawTemp {
		t.Fatal("Purge removed the temp file of a running Save")
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if isTempName(de.Name()) {
			t.Fatalf("temp file %s left after Save", de.Name())
		}
	}
}

func TestPurgeKeepsNewest(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, idx := range []uint64{100, 300, 200, 500, 400} {
		paths = append(paths, mustSave(t, dir, idx, uint64(i/2+1), 1, 1))
	}
	if err := Purge(dir, 0); err == nil {
		t.Fatal("Purge(0) accepted")
	}
	if err := Purge(dir, 2); err != nil {
		t.Fatal(err)
	}
	snaps, err := list(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].index != 500 || snaps[1].index != 400 {
		t.Fatalf("left %+v, want indexes 500 and 400", snaps)
	}
	if err := Purge(dir, 10); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := list(dir); len(snaps) != 2 {
		t.Fatalf("Purge(10) removed snapshots: %d left", len(snaps))
	}
	if err := Purge(filepath.Join(dir, "missing"), 1); err != nil {
		t.Fatalf("Purge of a missing dir: %v", err)
	}
}

func TestSaveWriteError(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("boom")
	_, err := Save(dir, Meta{Index: 1, Term: 1}, func(w io.Writer) error {
		w.Write(make([]byte, 1<<20))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Save = %v, want boom", err)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 0 {
		t.Fatalf("failed Save left %d files", len(des))
	}
}

func TestEmptyBody(t *testing.T) {
	dir := t.TempDir()
	if _, err := Save(dir, Meta{Index: 3, Term: 2}, func(io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	meta, err := Load(dir, nil, func(m Meta, r io.Reader) error {
		n, err := io.Copy(io.Discard, r)
		if n != 0 {
			return fmt.Errorf("%d bytes", n)
		}
		return err
	})
	if err != nil || meta.Index != 3 || meta.Term != 2 {
		t.Fatalf("Load = %+v, %v", meta, err)
	}
}

func flipAt(off int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if off < 0 {
			off += int64(len(b))
		}
		b[off] ^= 0x10
		writeFile(t, path, b)
	}
}

func truncateBy(n int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, st.Size()-n); err != nil {
			t.Fatal(err)
		}
	}
}

func truncateTo(n int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.Truncate(path, n); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileName(t *testing.T) {
	name := fileName(0xab, 0xcd)
	if term, index, ok := parseFileName(name); !ok || term != 0xab || index != 0xcd {
		t.Fatalf("parse %q = %d %d %v", name, term, index, ok)
	}
	for _, bad := range []string{"", name + ".tmp", strings.ToUpper(name), "x" + name[1:], name[:len(name)-5] + ".wal"} {
		if _, _, ok := parseFileName(bad); ok {
			t.Errorf("parse %q accepted", bad)
		}
	}
}

func FuzzDecodeHeader(f *testing.F) {
	for _, m := range []Meta{
		{},
		{Index: 1 << 40, Term: 9, ConfState: testConf},
		{Index: 5, Term: 1, ConfState: raftpb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{2}, AutoLeave: true}},
	} {
		h, err := encodeHeader(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(h)
		f.Add(h[:len(h)-1])
		c := bytes.Clone(h)
		c[len(c)/2] ^= 1
		f.Add(c)
	}
	f.Add([]byte(magic))
	f.Add([]byte(magic + "\x01\x00\x00\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := headerLen(data)
		if err != nil {
			return
		}
		if n > prefixSize+maxMetaSize+4 {
			t.Fatalf("header length %d beyond the cap", n)
		}
		if n > len(data) {
			return
		}
		meta, err := decodeHeader(data[:n])
		if err != nil {
			return
		}
		// What decodes must survive a round trip through the encoder.
		h, err := encodeHeader(meta)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeHeader(h)
		if err != nil || back.Index != meta.Index || back.Term != meta.Term || back.ConfState.String() != meta.ConfState.String() {
			t.Fatalf("round trip: %+v vs %+v (%v)", back, meta, err)
		}
	})
}

// A snapshot a crash left half purged (renamed to its purge temp name)
// is not loaded and goes at the next purge.
func TestPurgeRemovesHalfPurgedSnapshot(t *testing.T) {
	dir := t.TempDir()
	p := mustSave(t, dir, 100, 1, 1, 1)
	mustSave(t, dir, 200, 1, 1, 1)
	half := p + ".purged" + tmpSuffix
	if err := os.Rename(p, half); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := list(dir); len(snaps) != 1 || snaps[0].index != 200 {
		t.Fatalf("listed %+v, want only index 200", snaps)
	}
	if err := Purge(dir, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("half-purged snapshot still there: %v", err)
	}
}

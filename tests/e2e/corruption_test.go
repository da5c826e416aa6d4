package e2e

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// writeKeys stores n keys /c/k<i> and stops the member uncleanly.
func writeKeys(t *testing.T, m *member, n int) {
	t.Helper()
	m.start()
	for i := 0; i < n; i++ {
		r := m.mustDo("PUT", fmt.Sprintf("/c/k%d", i), url.Values{"value": {fmt.Sprint(i)}})
		if r.Status != 201 {
			t.Fatalf("PUT: %d %s", r.Status, r.Raw)
		}
	}
	m.kill()
}

// lastSegment returns the newest WAL segment and its bytes up to the end of
// the data (segments are preallocated: zeros follow the last record).
func lastSegment(t *testing.T, dataDir string) (string, []byte, int) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dataDir, "wal", "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no WAL segments: %v", err)
	}
	sort.Strings(segs)
	path := segs[len(segs)-1]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := len(bytes.TrimRight(b, "\x00"))
	return path, b, end
}

// TestTornWALTailIsTruncated: a record cut short at the tail (a crash in
// the middle of a write) is dropped with a log line and the server starts
// with everything before it.
func TestTornWALTailIsTruncated(t *testing.T) {
	m := newMember(t)
	writeKeys(t, m, 20)
	path, b, end := lastSegment(t, m.dataDir)
	// Zero the last bytes of the final record: it now fails its CRC and
	// nothing valid follows it.
	for i := end - 6; i < end; i++ {
		b[i] = 0
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m.start()
	if !strings.Contains(strings.ToLower(m.proc.Logs.String()), "torn") {
		t.Fatalf("no log line about the torn tail:\n%s", m.proc.Logs)
	}
	// The damaged record was the last write's (its entry or hard state);
	// every earlier write must be intact.
	for i := 0; i < 19; i++ {
		r := m.mustDo("GET", fmt.Sprintf("/c/k%d", i), nil)
		if r.Status != 200 || nodeOf(r)["value"] != fmt.Sprint(i) {
			t.Fatalf("k%d after torn-tail repair: %d %s", i, r.Status, r.Raw)
		}
	}
	// And the log accepts new writes after the repair.
	if r := m.mustDo("PUT", "/c/after", url.Values{"value": {"x"}}); r.Status != 201 {
		t.Fatalf("write after repair: %d %s", r.Status, r.Raw)
	}
	m.kill()
	m.start()
	if r := m.mustDo("GET", "/c/after", nil); r.Status != 200 {
		t.Fatalf("write after repair lost: %s", r.Raw)
	}
}

// TestCorruptWALRecordRefusesToStart: damage in the middle of the log is not
// a torn write; the server must refuse to start and name the file and offset.
func TestCorruptWALRecordRefusesToStart(t *testing.T) {
	m := newMember(t)
	writeKeys(t, m, 30)
	path, b, end := lastSegment(t, m.dataDir)
	b[end/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err, out := m.runToExit(20 * time.Second)
	if err == nil {
		t.Fatalf("arbor started on a corrupt WAL:\n%s", out)
	}
	if !strings.Contains(out, filepath.Base(path)) || !strings.Contains(out, "offset") {
		t.Fatalf("error does not name the file and offset:\n%s", out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
		t.Fatal("the corrupt WAL was modified")
	}
}

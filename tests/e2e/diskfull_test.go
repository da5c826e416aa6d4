//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A member whose disk fills up stops rather than acknowledge a write it
// could not log: clients get error 300 or a closed connection, never a
// success, and the process exits by itself saying why. Once space is
// freed it restarts with every acknowledged write, value and index. The
// data dir is on a 160 MiB loop device, filled to 16 MiB free after the
// member reserved its first WAL segment. Skips without root or loop
// devices.
func TestFullDiskStopsTheMemberAndKeepsAcknowledgedWrites(t *testing.T) {
	mnt := newLoopDisk(t, 160)
	m := newMember(t)
	m.args[slices.Index(m.args, "-data-dir")+1] = filepath.Join(mnt, "data")
	m.start()
	filler := filepath.Join(mnt, "filler")
	fillDiskLeaving(t, mnt, filler, 16<<20)

	type ack struct {
		value string
		index float64
	}
	var (
		mu      sync.Mutex
		acked   = map[string]ack{}
		refused = map[string]int{} // error responses, by errorCode
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	value := strings.Repeat("x", 32<<10)
	for c := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("/full/c%d/%d", c, i)
				r, err := m.do(ctx, "PUT", key, url.Values{"value": {value}})
				if err != nil {
					return // the member stopped mid-request: not acknowledged
				}
				mu.Lock()
				if r.Status == 201 {
					acked[key] = ack{value, nodeOf(r)["modifiedIndex"].(float64)}
				} else {
					var e struct {
						ErrorCode int `json:"errorCode"`
					}
					if json.Unmarshal([]byte(r.Raw), &e) != nil || e.ErrorCode == 0 {
						t.Errorf("PUT %s on a full disk: %d %s, want an etcd error", key, r.Status, r.Raw)
					}
					refused[fmt.Sprint(e.ErrorCode)]++
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-m.proc.Exited():
	case <-time.After(60 * time.Second):
		t.Fatalf("the member did not stop on a full disk within 60 s\n%s", m.proc.Logs)
	}
	cancel()
	wg.Wait()
	logs := m.proc.Logs.String()
	if !strings.Contains(logs, "no space left on device") {
		t.Errorf("the member stopped without saying the disk is full:\n%s", logs)
	}
	if strings.Contains(logs, "panic") {
		t.Errorf("the member panicked:\n%s", logs)
	}
	for code := range refused {
		if code != "300" {
			t.Errorf("writes refused with errorCode %s (%d), want 300 only", code, refused[code])
		}
	}
	t.Logf("%d writes acknowledged before the disk filled; refused: %v", len(acked), refused)
	if len(acked) < 100 {
		t.Fatalf("only %d writes acknowledged before the disk filled", len(acked))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	m.start()
	for key, a := range acked {
		r := m.mustDo("GET", key, nil)
		if r.Status != 200 {
			t.Fatalf("acknowledged write %s lost after the disk filled: %d %s", key, r.Status, r.Raw)
		}
		if n := nodeOf(r); n["value"] != a.value || n["modifiedIndex"].(float64) != a.index {
			t.Fatalf("%s: index %v, acknowledged at %v (or its value changed)", key, n["modifiedIndex"], a.index)
		}
	}
	if r := m.mustDo("PUT", "/after", url.Values{"value": {"space again"}}); r.Status != 201 {
		t.Fatalf("write after space was freed: %d %s", r.Status, r.Raw)
	}
}

// fillDiskLeaving reserves all but leave bytes of the file system at mnt
// in file path.
func fillDiskLeaving(t *testing.T, mnt, path string, leave int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if free <= leave {
		t.Fatalf("only %d bytes free on %s", free, mnt)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, free-leave); err != nil {
		t.Fatalf("fill %s: %v", mnt, err)
	}
}

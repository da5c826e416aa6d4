//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A member whose disk stalls keeps serving reads: its writes wait for the
// disk, its reads do not. The data dir is on a loop device whose writes
// the blkio cgroup throttles to one a second for 3 s. (With the WAL's
// syncs keeping their P, -wal-held-sync, reads waited up to 2 s here.)
// Every write acknowledged before, during and after the stall is kept.
// Skips where the stall cannot be made: not root, no loop device, no
// cgroup v1 blkio throttling.
func TestReadsGoOnWhileTheDiskStalls(t *testing.T) {
	disk := newStallableDisk(t)
	// Collections start often, so some overlap the stall: one whose
	// stop-the-world waited for the disk would show in the reads.
	t.Setenv("GOGC", "5")
	m := newMember(t)
	disk.holdData(0, m)
	m.start()
	disk.add(m.proc.Cmd.Process.Pid)
	for i := range 100 {
		m.mustDo("PUT", fmt.Sprintf("/r/%d", i), url.Values{"value": {"v"}})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu        sync.Mutex
		stalling  bool
		readMax   time.Duration // longest read that overlapped the stall
		writeMax  time.Duration
		acked     = map[string]string{}
		readFails int
		wg        sync.WaitGroup
	)
	for c := range 4 { // writers
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key, val := fmt.Sprintf("/w/c%d/%d", c, i), strconv.Itoa(i)
				start := time.Now()
				r, err := m.do(ctx, "PUT", key, url.Values{"value": {val}})
				took := time.Since(start)
				mu.Lock()
				writeMax = max(writeMax, took)
				if err == nil && r.Status == 201 {
					acked[key] = val
				}
				mu.Unlock()
			}
		})
	}
	for c := range 4 { // readers
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				mu.Lock()
				during := stalling
				mu.Unlock()
				start := time.Now()
				r, err := m.do(ctx, "GET", fmt.Sprintf("/r/%d", (c*31+i)%100), nil)
				took := time.Since(start)
				mu.Lock()
				if during || stalling {
					readMax = max(readMax, took)
				}
				if ctx.Err() == nil && (err != nil || r.Status != 200) {
					readFails++
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	stalling = true
	mu.Unlock()
	disk.throttle(true)
	time.Sleep(3 * time.Second)
	disk.throttle(false)
	mu.Lock()
	stalling = false
	mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()

	t.Logf("during the stall: longest read %v, longest write %v; %d writes acknowledged", readMax, writeMax, len(acked))
	if writeMax < time.Second {
		t.Skipf("the throttle did not stall the disk (longest write %v)", writeMax)
	}
	if readFails > 0 {
		t.Errorf("%d reads failed", readFails)
	}
	if readMax > 500*time.Millisecond {
		t.Errorf("a read waited %v while the disk stalled", readMax)
	}
	m.kill()
	m.start()
	for key, val := range acked {
		if r := m.mustDo("GET", key, nil); r.Status != 200 || nodeOf(r)["value"] != val {
			t.Fatalf("acknowledged write %s=%s after the stall and a kill -9: %d %s", key, val, r.Status, r.Raw)
		}
	}
}

// A follower whose disk stalls does not slow the others: the leader and
// the other follower are a quorum, so writes through them go on while the
// follower's writes wait 3 s for its disk; afterwards all three converge
// and hold every acknowledged write. (Every member's data is on the loop
// device; only the follower's process is throttled.)
func TestClusterWritesGoOnWhileAFollowerDiskStalls(t *testing.T) {
	disk := newStallableDisk(t)
	all := startTrioWith(t, nil, disk.holdData)
	lead := waitLeaderAmong(t, all, []int{0, 1, 2}, 10*time.Second)
	follower, other := (lead+1)%3, (lead+2)%3
	disk.add(all[follower].proc.Cmd.Process.Pid)

	load := startProcessLoad(t, []*member{all[lead], all[other]}, 8)
	load.waitAcked(t, 200, 10*time.Second)
	disk.throttle(true)
	stalled := time.Now()
	// A write through the stalled follower waits for its disk: proof that
	// the stall bit. It is answered once the stall ends.
	slow := make(chan error, 1)
	var slowTook time.Duration
	go func() {
		r, err := all[follower].do(context.Background(), "PUT", "/through-the-stalled-one", url.Values{"value": {"x"}})
		slowTook = time.Since(stalled)
		if err == nil && r.Status != 201 {
			err = fmt.Errorf("%d %s", r.Status, r.Raw)
		}
		slow <- err
	}()
	time.Sleep(300 * time.Millisecond)
	load.waitAcked(t, 500, 2*time.Second)
	during := time.Since(stalled)
	time.Sleep(time.Until(stalled.Add(3 * time.Second)))
	disk.throttle(false)
	if err := <-slow; err != nil {
		t.Fatalf("write through the stalled follower: %v", err)
	}
	t.Logf("500 writes acknowledged through the others %v into the stall; one through the stalled follower took %v", during, slowTook)
	if slowTook < time.Second {
		t.Skipf("the throttle did not stall the follower's disk (its write took %v)", slowTook)
	}
	load.waitAcked(t, 100, 10*time.Second)
	load.stop()
	load.checkAcked(t, waitConverged(t, all, 20*time.Second))
}

// A leader whose disk stalls is replaced: its heartbeats wait behind the
// sync, so the followers elect one of them within a few election timeouts
// and writes through them go on; after the stall all three converge and
// hold every acknowledged write.
func TestClusterReplacesALeaderWhoseDiskStalls(t *testing.T) {
	disk := newStallableDisk(t)
	all := startTrioWith(t, nil, disk.holdData)
	lead := waitLeaderAmong(t, all, []int{0, 1, 2}, 10*time.Second)
	others := []int{(lead + 1) % 3, (lead + 2) % 3}
	disk.add(all[lead].proc.Cmd.Process.Pid)

	load := startProcessLoad(t, []*member{all[others[0]], all[others[1]]}, 8)
	load.waitAcked(t, 200, 10*time.Second)
	disk.throttle(true)
	stalled := time.Now()
	next := waitLeaderAmong(t, all, others, 20*electionTimeout)
	elected := time.Since(stalled)
	load.waitAcked(t, 300, 3*time.Second)
	t.Logf("leader p%d's disk stalled; p%d leads %v later (%.1f election timeouts); 300 more writes %v into the stall",
		lead, next, elected.Round(time.Millisecond), float64(elected)/float64(electionTimeout), time.Since(stalled).Round(time.Millisecond))
	time.Sleep(time.Until(stalled.Add(3 * time.Second)))
	disk.throttle(false)
	load.waitAcked(t, 100, 10*time.Second)
	load.stop()
	load.checkAcked(t, waitConverged(t, all, 20*time.Second))
}

// stallableDisk is an ext4 file system on a loop device, mounted at mnt,
// and a blkio cgroup that can throttle the processes put in it to one
// write a second on that device.
type stallableDisk struct {
	t      *testing.T
	mnt    string
	cgroup string
	device string // "major:minor" of the loop device
}

func newStallableDisk(t *testing.T) *stallableDisk {
	t.Helper()
	const blkio = "/sys/fs/cgroup/blkio"
	if _, err := os.Stat(filepath.Join(blkio, "blkio.throttle.write_iops_device")); err != nil {
		t.Skip("no cgroup v1 blkio throttling")
	}
	mnt := newLoopDisk(t, 256)
	d := &stallableDisk{t: t, mnt: mnt, cgroup: filepath.Join(blkio, fmt.Sprintf("arbor-e2e-%d", os.Getpid()))}
	var st syscall.Stat_t
	if err := syscall.Stat(mnt, &st); err != nil {
		t.Fatal(err)
	}
	d.device = fmt.Sprintf("%d:%d", unixMajor(st.Dev), unixMinor(st.Dev))
	if err := os.Mkdir(d.cgroup, 0o755); err != nil {
		t.Skipf("cannot make a blkio cgroup: %v", err)
	}
	t.Cleanup(func() {
		d.throttle(false)
		if err := os.Remove(d.cgroup); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
	})
	d.checkThrottleBites()
	return d
}

// checkThrottleBites skips the test unless a synced 4 KiB write by a
// process in the throttled cgroup waits for the throttle: where the limit
// is accepted but not applied, a test expecting a stall would fail.
func (d *stallableDisk) checkThrottleBites() {
	d.t.Helper()
	d.throttle(true)
	defer d.throttle(false)
	start := time.Now()
	probe := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec dd if=/dev/zero of="$2/probe" bs=4096 count=1 oflag=dsync status=none`,
		"sh", d.cgroup, d.mnt)
	if out, err := probe.CombinedOutput(); err != nil {
		d.t.Skipf("cannot probe the throttle: %v %s", err, out)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		d.t.Skipf("the blkio throttle does not slow writes here (a synced 4 KiB write took %v)", took)
	}
}

// newLoopDisk makes an ext4 file system of sizeMiB on a loop device and
// mounts it; the test's cleanup unmounts it (after the members it holds
// stopped: cleanups run last first). Skips without root, the tools or
// loop devices.
func newLoopDisk(t *testing.T, sizeMiB int64) (mnt string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a loop device needs root")
	}
	for _, cmd := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("%s not found", cmd)
		}
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "disk.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err == nil {
		err = f.Truncate(sizeMiB << 20)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	return mnt
}

// holdData puts member i's data dir on the disk (i names its directory).
func (d *stallableDisk) holdData(i int, m *member) {
	m.args[slices.Index(m.args, "-data-dir")+1] = filepath.Join(d.mnt, fmt.Sprintf("data%d", i))
}

// add puts process pid in the throttled cgroup.
func (d *stallableDisk) add(pid int) {
	d.t.Helper()
	if err := os.WriteFile(filepath.Join(d.cgroup, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// throttle limits the cgroup's writes to the device to one a second, or
// lifts the limit.
func (d *stallableDisk) throttle(on bool) {
	d.t.Helper()
	limit := "0" // no limit
	if on {
		limit = "1"
	}
	if err := os.WriteFile(filepath.Join(d.cgroup, "blkio.throttle.write_iops_device"), []byte(d.device+" "+limit), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// unixMajor and unixMinor split a Linux device number.
func unixMajor(dev uint64) uint64 { return (dev>>8)&0xfff | (dev>>32)&^0xfff }
func unixMinor(dev uint64) uint64 { return dev&0xff | (dev>>12)&^0xff }

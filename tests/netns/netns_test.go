// Package netns_test runs arbor members as real hosts: each in its own
// Linux network namespace with its own address, joined by a bridge, so a
// partition is a link going down rather than a proxy dropping bytes.
// The tests skip where namespaces cannot be made (not root, not Linux, no
// ip(8)); every address they use is on a private /24 only they route.
package netns_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// topology is a hub namespace holding a bridge, one namespace per member
// with a veth into the bridge, and a veth from the test's own namespace,
// so the test reaches every member as a client would.
type topology struct {
	t      *testing.T
	prefix string // names: <prefix>-hub, <prefix>-m1, ...
	subnet string // "10.123.N." — members are .1, .2, ..., the test .254
	hostIf string // the test namespace's end of its veth
}

// ip runs ip(8) with args and fails the test on error.
func (tp *topology) ip(args ...string) {
	tp.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tp.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newTopology makes the hub and the test's link into it, or skips the
// test where namespaces are not available.
func newTopology(t *testing.T) *topology {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("network namespaces need Linux and root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not found")
	}
	id := fmt.Sprintf("%05d", os.Getpid()%100000)
	tp := &topology{t: t, prefix: "arbor" + id, hostIf: "arb" + id + "h"}
	tp.subnet = freeSubnet(t)
	hub := tp.prefix + "-hub"
	if out, err := exec.Command("ip", "netns", "add", hub).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v %s", err, out)
	}
	t.Cleanup(tp.remove)
	// A machine that makes namespaces but lacks bridges or veth pairs
	// cannot run these tests either: skip, naming the step that failed.
	for _, args := range [][]string{
		{"-n", hub, "link", "add", "br0", "type", "bridge"},
		{"-n", hub, "link", "set", "br0", "up"},
		{"link", "add", tp.hostIf, "type", "veth", "peer", "name", "ph", "netns", hub},
		{"-n", hub, "link", "set", "ph", "master", "br0"},
		{"-n", hub, "link", "set", "ph", "up"},
		{"addr", "add", tp.subnet + "254/24", "dev", tp.hostIf},
		{"link", "set", tp.hostIf, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("network namespaces unusable here: ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	return tp
}

// freeSubnet picks a 10.123.N.0/24 no interface of this namespace is on.
func freeSubnet(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		n := 10 + rand.IntN(240)
		_, cand, _ := net.ParseCIDR(fmt.Sprintf("10.123.%d.0/24", n))
		used := false
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (cand.Contains(ipn.IP) || ipn.Contains(cand.IP)) {
				used = true
			}
		}
		if !used {
			return fmt.Sprintf("10.123.%d.", n)
		}
	}
	t.Skip("no free 10.123.N.0/24 subnet")
	return ""
}

// addHost makes member i's namespace, linked to the bridge, with address
// subnet+i, and returns the namespace's name.
func (tp *topology) addHost(i int) string {
	tp.t.Helper()
	ns := fmt.Sprintf("%s-m%d", tp.prefix, i)
	hub := tp.prefix + "-hub"
	tp.ip("netns", "add", ns)
	tp.ip("-n", ns, "link", "set", "lo", "up")
	tp.ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", fmt.Sprintf("p%d", i), "netns", hub)
	tp.ip("-n", hub, "link", "set", fmt.Sprintf("p%d", i), "master", "br0")
	tp.ip("-n", hub, "link", "set", fmt.Sprintf("p%d", i), "up")
	tp.ip("-n", ns, "addr", "add", fmt.Sprintf("%s%d/24", tp.subnet, i), "dev", "eth0")
	tp.ip("-n", ns, "link", "set", "eth0", "up")
	return ns
}

// cut takes member i's link to the bridge down (up again with heal): it
// can reach no member and no client, and none can reach it.
func (tp *topology) cut(i int) {
	tp.ip("-n", tp.prefix+"-hub", "link", "set", fmt.Sprintf("p%d", i), "down")
}
func (tp *topology) heal(i int) {
	tp.ip("-n", tp.prefix+"-hub", "link", "set", fmt.Sprintf("p%d", i), "up")
}

// remove deletes every namespace and link the topology made. Processes
// must be gone first (their namespaces outlive them otherwise).
func (tp *topology) remove() {
	_ = exec.Command("ip", "link", "del", tp.hostIf).Run()
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range bytes.Split(out, []byte("\n")) {
		name, _, _ := strings.Cut(string(line), " ")
		if strings.HasPrefix(name, tp.prefix+"-") {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

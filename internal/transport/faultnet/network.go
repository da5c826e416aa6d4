package faultnet

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// ErrDropped is returned by a read or write that Drop broke.
var ErrDropped = errors.New("faultnet: connection dropped")

// Network holds the members' addresses and the faults between them. The
// zero value is not usable; call New.
type Network struct {
	mu       sync.Mutex
	addrs    map[string]uint64 // listener address → member; guarded by mu
	links    map[link]faults   // guarded by mu
	isolated map[uint64]bool   // guarded by mu
	// changed is closed and replaced whenever faults change, waking every
	// waiting operation to look again. Guarded by mu.
	changed chan struct{}
}

// link is one direction of traffic between two members.
type link struct{ from, to uint64 }

type faults struct {
	blocked bool
	delay   time.Duration
	drop    float64
}

// New returns a network without faults.
func New() *Network {
	return &Network{
		addrs:    map[string]uint64{},
		links:    map[link]faults{},
		isolated: map[uint64]bool{},
		changed:  make(chan struct{}),
	}
}

// Listen listens on addr (e.g. "127.0.0.1:0") for member id and registers
// the address it got. Connections it accepts are not wrapped: the dialing
// side applies the faults of both directions.
func (n *Network) Listen(id uint64, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	n.Register(id, ln.Addr().String())
	return ln, nil
}

// Register names member id as the owner of addr ("127.0.0.1:port", as the
// listener reports it). Dials to an address nobody registered are subject
// to no faults.
func (n *Network) Register(id uint64, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addrs[addr] = id
}

// Dialer returns a dial function for member from, of the shape
// net.Dialer.DialContext and http.Transport.DialContext have.
func (n *Network) Dialer(from uint64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		to := n.addrs[addr]
		n.mu.Unlock()
		out, in := link{from, to}, link{to, from}
		// A blocked link loses the handshake: wait for a heal or the caller's
		// dial timeout.
		for {
			wake, blocked := n.check(out)
			if !blocked {
				wake, blocked = n.check(in)
			}
			if !blocked {
				break
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
			}
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newConn(n, c, out, in), nil
	}
}

// Block stops traffic from one member to another until Heal.
func (n *Network) Block(from, to uint64) {
	n.update(func() { n.edit(link{from, to}, func(f *faults) { f.blocked = true }) })
}

// Partition blocks traffic both ways between every member of a and every
// member of b. Traffic within each side flows.
func (n *Network) Partition(a, b []uint64) {
	n.update(func() {
		for _, x := range a {
			for _, y := range b {
				n.edit(link{x, y}, func(f *faults) { f.blocked = true })
				n.edit(link{y, x}, func(f *faults) { f.blocked = true })
			}
		}
	})
}

// Isolate blocks all traffic to and from a member.
func (n *Network) Isolate(id uint64) {
	n.update(func() { n.isolated[id] = true })
}

// Delay makes every read and write carrying traffic from one member to
// another wait d first; 0 removes the delay.
func (n *Network) Delay(from, to uint64, d time.Duration) {
	n.update(func() { n.edit(link{from, to}, func(f *faults) { f.delay = d }) })
}

// Drop makes every read and write carrying traffic from one member to
// another break its connection with probability p (0 to 1).
func (n *Network) Drop(from, to uint64, p float64) {
	n.update(func() { n.edit(link{from, to}, func(f *faults) { f.drop = p }) })
}

// Heal removes every fault. Waiting reads, writes and dials go on.
func (n *Network) Heal() {
	n.update(func() {
		clear(n.links)
		clear(n.isolated)
	})
}

// update changes faults under the lock and wakes every waiter.
func (n *Network) update(change func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	change()
	close(n.changed)
	n.changed = make(chan struct{})
}

// edit changes one link's faults; the caller holds mu.
func (n *Network) edit(l link, change func(*faults)) {
	f := n.links[l]
	change(&f)
	if f == (faults{}) {
		delete(n.links, l)
		return
	}
	n.links[l] = f
}

// check reports whether l is blocked, and a channel closed at the next
// change of faults.
func (n *Network) check(l link) (wake <-chan struct{}, blocked bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed, n.links[l].blocked || n.isolated[l.from] || n.isolated[l.to]
}

// faultsOf returns l's delay and drop probability.
func (n *Network) faultsOf(l link) faults {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.links[l]
}

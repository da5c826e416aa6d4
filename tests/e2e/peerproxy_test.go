package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// links is the test's switchboard for the peer traffic between arbor
// processes: which member (by the test's index) may send to which. Every
// member advertises a peerProxy as its peer address, so all traffic to it
// passes through the proxy, which learns from each connection's first
// request (the transport names its sender in X-Arbor-From) which member
// sends on it, and holds the bytes of a blocked direction until healed,
// like a network that silently loses packets: nothing is refused, the
// members must notice the silence by themselves.
type links struct {
	mu      sync.Mutex
	names   map[string]int  // sender's hex member ID → test index; guarded by mu
	blocked map[[2]int]bool // (from, to) → blocked; guarded by mu
	changed chan struct{}   // closed and replaced on every change; guarded by mu
}

func newLinks() *links {
	return &links{names: map[string]int{}, blocked: map[[2]int]bool{}, changed: make(chan struct{})}
}

// name tells the switchboard that hex member ID id is member i.
func (l *links) name(id string, i int) {
	l.update(func() { l.names[id] = i })
}

// isolate blocks both directions between member i and every other.
func (l *links) isolate(i, size int) {
	l.update(func() {
		for j := range size {
			if j != i {
				l.blocked[[2]int{i, j}] = true
				l.blocked[[2]int{j, i}] = true
			}
		}
	})
}

func (l *links) heal() { l.update(func() { clear(l.blocked) }) }

func (l *links) update(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitOpen returns once traffic may flow between the sender with hex
// member ID sender and member m, in the direction toMember says, or false
// when done is closed first. Traffic of an unnamed sender (a join
// request) always flows.
func (l *links) waitOpen(sender string, m int, toMember bool, done <-chan struct{}) bool {
	for {
		l.mu.Lock()
		from, named := l.names[sender]
		link := [2]int{m, from}
		if toMember {
			link = [2]int{from, m}
		}
		blocked, changed := named && l.blocked[link], l.changed
		l.mu.Unlock()
		if !blocked {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}

// peerProxy forwards connections to member `to`'s real peer listener.
type peerProxy struct {
	ln     net.Listener
	target string
	to     int
	links  *links
	done   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool // open connections, both sides; guarded by mu
}

// startPeerProxy listens on a free loopback port for member to, whose peer
// listener is at target; it stops when the test ends.
func startPeerProxy(t *testing.T, l *links, to int, target string) *peerProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peerProxy{ln: ln, target: target, to: to, links: l, done: make(chan struct{}), conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *peerProxy) addr() string { return p.ln.Addr().String() }

func (p *peerProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *peerProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		c.Close()
		return false
	default:
	}
	p.conns[c] = true
	return true
}

func (p *peerProxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *peerProxy) serve(in net.Conn) {
	if !p.track(in) {
		return
	}
	defer p.untrack(in)
	br := bufio.NewReader(in)
	head, from, err := readHead(br)
	if err != nil {
		return
	}
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	var wg sync.WaitGroup
	// Requests from the sender; the head goes first.
	wg.Go(func() {
		p.pipe(out, io.MultiReader(bytes.NewReader(head), br), from, true)
		out.Close()
	})
	// The member's answers back to the sender.
	wg.Go(func() {
		p.pipe(in, out, from, false)
		in.Close()
	})
	wg.Wait()
}

// pipe copies src to dst chunk by chunk, holding each chunk while its
// direction between sender and the proxied member is blocked.
func (p *peerProxy) pipe(dst io.Writer, src io.Reader, sender string, toMember bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.links.waitOpen(sender, p.to, toMember, p.done) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *peerProxy) close() {
	p.mu.Lock()
	close(p.done)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// readHead reads an HTTP request head (through the blank line) and
// returns its bytes and the X-Arbor-From header ("" if absent).
func readHead(br *bufio.Reader) ([]byte, string, error) {
	var head bytes.Buffer
	from := ""
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			return nil, "", err
		}
		if line == "\r\n" || line == "\n" {
			return head.Bytes(), from, nil
		}
		if k, v, ok := strings.Cut(line, ":"); ok && textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)) == "X-Arbor-From" {
			from = strings.ToLower(strings.TrimSpace(v))
		}
	}
}

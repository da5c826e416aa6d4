package config

import (
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// resolver picks each setting's value by precedence and parses it. It keeps
// the first error; later calls still return usable zero values so fill can
// run straight through.
type resolver struct {
	st  *state
	err error
}

func (r *resolver) fail(s *setting, v raw, reason error) {
	if r.err == nil {
		r.err = &Error{Setting: s.name, Source: v.where, Value: v.text, Err: reason}
	}
}

// pick returns the value with the highest precedence: flag, environment,
// file, default. set is false when only the default applies.
func (r *resolver) pick(name string) (v raw, set bool) {
	s := settingByName[name]
	if s == nil {
		panic("config: no setting " + name)
	}
	for _, m := range []map[string]raw{r.st.flags, r.st.env, r.st.file} {
		if v, ok := m[name]; ok {
			return v, true
		}
	}
	return raw{src: srcDefault, where: "default of -" + name, text: s.def}, false
}

// given returns the chosen value only when some source set it.
func (r *resolver) given(name string) *raw {
	v, ok := r.pick(name)
	if !ok {
		return nil
	}
	return &v
}

func (r *resolver) str(name string) string {
	v, _ := r.pick(name)
	return v.text
}

func (r *resolver) boolean(name string) bool {
	v, _ := r.pick(name)
	return parseBool(v)
}

func (r *resolver) integer(name string, min int) int {
	v, _ := r.pick(name)
	n, err := parseInt(v.text)
	if err == nil && n < min {
		err = invalid("must be at least %d", min)
	}
	if err != nil {
		r.fail(settingByName[name], v, err)
	}
	return n
}

func (r *resolver) uint64(name string, min uint64) uint64 {
	v, _ := r.pick(name)
	n, err := parseUint64(v.text)
	if err == nil && n < min {
		err = invalid("must be at least %d", min)
	}
	if err != nil {
		r.fail(settingByName[name], v, err)
	}
	return n
}

func (r *resolver) seconds(name string, min float64) float64 {
	v, _ := r.pick(name)
	f, err := parseSeconds(v.text)
	if err == nil && f < min {
		err = invalid("must be at least %g seconds", min)
	}
	if err != nil {
		r.fail(settingByName[name], v, err)
	}
	return f
}

func (r *resolver) duration(name string, unit time.Duration) time.Duration {
	v, _ := r.pick(name)
	d, err := parseDuration(v.text, unit)
	if err != nil {
		r.fail(settingByName[name], v, err)
	}
	return d
}

// bytes resolves a byte count of at least min and, when max > 0, at most
// max.
func (r *resolver) bytes(name string, min, max int64) int64 {
	v, _ := r.pick(name)
	n, err := parseBytes(v.text)
	switch {
	case err != nil:
	case n < min:
		err = invalid("must be at least %d bytes", min)
	case max > 0 && n > max:
		err = invalid("must be at most %d bytes", max)
	}
	if err != nil {
		r.fail(settingByName[name], v, err)
	}
	return n
}

func (r *resolver) list(name string) []string {
	v, _ := r.pick(name)
	return parseList(v)
}

// Raft timing bounds. Raft needs more election ticks than heartbeat ticks,
// so the election timeout must be at least twice the heartbeat; above 50 s,
// as etcd 3 also refuses, a lost leader would stall writes for minutes.
const maxElectionTimeout = 50 * time.Second

// fill resolves every setting into c.
func (r *resolver) fill(c *Config) {
	c.Name = r.str("name")
	if v, _ := r.pick("name"); c.Name == "" {
		r.fail(settingByName["name"], v, invalid("must not be empty"))
	} else if strings.ContainsAny(c.Name, "/") {
		r.fail(settingByName["name"], v, invalid("must not contain '/': it is a key under /_etcd/machines"))
	}
	c.DataDir = r.str("data-dir")
	if c.DataDir == "" {
		c.DataDir = c.Name + ".arbor"
	}

	c.Snapshot = r.boolean("snapshot")
	c.SnapshotCount = r.uint64("snapshot-count", 1)
	c.Force = r.boolean("force")
	c.StrictReads = r.boolean("strict-reads")
	c.WALHeldSync = r.boolean("wal-held-sync")
	switch strings.ToLower(r.str("trace")) {
	case "", "0", "false":
	default:
		c.Trace = true
	}
	c.VeryVerbose = r.boolean("vv") || r.boolean("vvv")
	c.Verbose = r.boolean("v") || c.VeryVerbose

	c.ClusterActiveSize = r.integer("cluster-active-size", 3)
	c.ClusterRemoveDelay = r.seconds("cluster-remove-delay", 2)
	c.ClusterSyncInterval = r.seconds("cluster-sync-interval", 1)

	c.HeartbeatInterval = r.duration("peer-heartbeat-interval", time.Millisecond)
	c.ElectionTimeout = r.duration("peer-election-timeout", time.Millisecond)
	r.checkRaftTiming(c)
	c.HTTPReadTimeout = r.duration("http-read-timeout", time.Second)
	c.HTTPWriteTimeout = r.duration("http-write-timeout", time.Second)

	c.MaxRequestBytes = r.bytes("max-request-bytes", 1, MaxRequestBytesLimit)
	c.HistorySize = r.integer("history-size", 1)
	c.HistoryBytes = r.bytes("history-bytes", 0, 0)
	c.MaxWatchers = r.integer("max-watchers", 0)
	c.StreamFlushInterval = r.duration("stream-flush-interval", time.Millisecond)

	c.CORS = r.list("cors")
	for _, o := range c.CORS {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			v, _ := r.pick("cors")
			r.fail(settingByName["cors"], v, invalid("origin %q: want * or scheme://host[:port]", o))
			break
		}
	}

	r.fillCluster(c)
	r.fillTLS(c)
	r.fillListeners(c)
	r.warnIgnored()
}

func (r *resolver) checkRaftTiming(c *Config) {
	hb, hbSet := r.pick("peer-heartbeat-interval")
	et, _ := r.pick("peer-election-timeout")
	if r.err != nil {
		return
	}
	switch {
	case c.HeartbeatInterval < time.Millisecond:
		r.fail(settingByName["peer-heartbeat-interval"], hb, invalid("must be at least 1 millisecond"))
	case c.ElectionTimeout > maxElectionTimeout:
		r.fail(settingByName["peer-election-timeout"], et, invalid("must be at most %v", maxElectionTimeout))
	case c.ElectionTimeout < 2*c.HeartbeatInterval:
		// Blame the one the user changed; with both set, the election timeout.
		if _, etSet := r.pick("peer-election-timeout"); !etSet && hbSet {
			r.fail(settingByName["peer-heartbeat-interval"], hb,
				invalid("must be at most half of -peer-election-timeout (%v)", c.ElectionTimeout))
		} else {
			r.fail(settingByName["peer-election-timeout"], et,
				invalid("must be at least twice -peer-heartbeat-interval (%v)", c.HeartbeatInterval))
		}
	}
}

func (r *resolver) fillCluster(c *Config) {
	c.Discovery = r.str("discovery")
	if c.Discovery != "" {
		u, err := url.Parse(c.Discovery)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v, _ := r.pick("discovery")
			r.fail(settingByName["discovery"], v, invalid("want an http:// or https:// URL"))
		}
	}

	c.Peers = r.list("peers")
	c.PeersFile = r.str("peers-file")
	if c.PeersFile != "" {
		pf, _ := r.pick("peers-file")
		data, err := os.ReadFile(c.PeersFile)
		if err != nil {
			r.fail(settingByName["peers-file"], pf, err)
			return
		}
		if p := r.given("peers"); p != nil {
			r.st.warn("%s replaces %s", pf.where, p.where)
		}
		text := strings.NewReplacer("\r\n", ",", "\n", ",").Replace(string(data))
		c.Peers = parseList(raw{text: text})
	}
	// Label a bad entry with the setting the list came from.
	from := "peers"
	fromV, _ := r.pick("peers")
	if c.PeersFile != "" {
		from = "peers-file"
		fromV, _ = r.pick("peers-file")
	}
	for _, p := range c.Peers {
		if err := checkPeerAddr(p); err != nil {
			r.fail(settingByName[from], fromV, err)
			return
		}
	}
}

// fillTLS reads the file names and checks that each side has both a
// certificate and a key or neither, that a CA comes with them, and that
// every named file can be opened now rather than at the first handshake.
func (r *resolver) fillTLS(c *Config) {
	c.CAFile, c.CertFile, c.KeyFile = r.str("ca-file"), r.str("cert-file"), r.str("key-file")
	c.PeerCAFile, c.PeerCertFile, c.PeerKeyFile = r.str("peer-ca-file"), r.str("peer-cert-file"), r.str("peer-key-file")
	r.checkTLSSide("ca-file", "cert-file", "key-file")
	r.checkTLSSide("peer-ca-file", "peer-cert-file", "peer-key-file")
}

func (r *resolver) checkTLSSide(ca, cert, key string) {
	caV, cV, kV := r.given(ca), r.given(cert), r.given(key)
	switch {
	case cV != nil && kV == nil:
		r.fail(settingByName[cert], *cV, invalid("needs -%s as well", key))
		return
	case kV != nil && cV == nil:
		r.fail(settingByName[key], *kV, invalid("needs -%s as well", cert))
		return
	case caV != nil && cV == nil:
		r.fail(settingByName[ca], *caV, invalid("needs -%s and -%s as well", cert, key))
		return
	}
	for _, name := range []string{cert, key, ca} {
		v := r.given(name)
		if v == nil {
			continue
		}
		f, err := os.Open(v.text)
		if err != nil {
			r.fail(settingByName[name], *v, err)
			return
		}
		f.Close()
	}
}

func (r *resolver) fillListeners(c *Config) {
	scheme := func(tls bool) string {
		if tls {
			return "https"
		}
		return "http"
	}
	cl, err := resolveSide(clientSide, r.given("addr"), r.given("bind-addr"), scheme(c.ClientTLS()))
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return
	}
	pe, err := resolveSide(peerSide, r.given("peer-addr"), r.given("peer-bind-addr"), scheme(c.PeerTLS()))
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return
	}
	c.Addr, c.BindAddr, c.ClientListen, c.ClientURLs = cl.addr, cl.bind, cl.listen, cl.urls
	c.PeerAddr, c.PeerBindAddr, c.PeerListen, c.PeerURLs = pe.addr, pe.bind, pe.listen, pe.urls

	// Two listeners on one address would fail at start with a bare
	// "address already in use"; say which settings collide instead, blaming
	// the side the user set.
	for _, p := range c.PeerListen {
		for _, q := range c.ClientListen {
			if p != q || strings.HasSuffix(p, ":0") {
				continue
			}
			name, other := r.sideSource("peer-bind-addr", "peer-addr"), "clients"
			if name == "" {
				name, other = r.sideSource("bind-addr", "addr"), "peers"
			}
			if name == "" {
				name = "peer-bind-addr" // unreachable: the default pairs differ
			}
			v, _ := r.pick(name)
			r.fail(settingByName[name], v, invalid("%s already listen on %s", other, q))
			return
		}
	}
	for _, sd := range []struct{ addr, bind, value string }{{"addr", "bind-addr", c.Addr}, {"peer-addr", "peer-bind-addr", c.PeerAddr}} {
		host, _, _ := net.SplitHostPort(sd.value)
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			v, _ := r.pick(sd.addr)
			r.st.warn("%s %s advertises an unspecified address that other machines cannot use; advertise a reachable address and set -%s to listen on every interface", v.where, sd.value, sd.bind)
		}
	}
}

// sideSource returns the listen setting if given, else the advertise
// setting if given, else "".
func (r *resolver) sideSource(bind, addr string) string {
	if r.given(bind) != nil {
		return bind
	}
	if r.given(addr) != nil {
		return addr
	}
	return ""
}

// warnIgnored adds one warning per etcd 0.4 setting given that arbor does
// not use.
func (r *resolver) warnIgnored() {
	for _, s := range settings {
		if s.kind != kindIgnored {
			continue
		}
		if v, ok := r.pick(s.name); ok {
			r.st.warn("[ignored] %s: etcd 0.4's -%s has no effect in arbor", v.where, s.name)
		}
	}
}

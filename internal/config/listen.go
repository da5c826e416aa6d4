package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// side holds the defaults of the client or the peer side.
type side struct {
	addrSetting, bindSetting string
	pair                     []string // listened on and advertised when neither address is set
	legacy                   string   // etcd 0.4's default address, the primary one
}

var (
	clientSide = side{"addr", "bind-addr", []string{"127.0.0.1:2379", "127.0.0.1:4001"}, "127.0.0.1:4001"}
	peerSide   = side{"peer-addr", "peer-bind-addr", []string{"127.0.0.1:2380", "127.0.0.1:7001"}, "127.0.0.1:7001"}
)

// endpoints is the outcome of resolving one side.
type endpoints struct {
	addr, bind string
	listen     []string
	urls       []string
}

// resolveSide works out what one side listens on and advertises.
//
//   - Neither address set: listen on and advertise both default addresses
//     (etcd 2 kept etcd 0.4's 4001/7001 next to 2379/2380).
//   - Advertised address set: it must be host:port with a host. The listen
//     address defaults to it.
//   - Listen address set: host:port is used as is (":4001" listens on every
//     interface); a host alone takes the advertised address's port, as in
//     etcd 0.4 ("-addr 10.0.0.1:4001 -bind-addr 0.0.0.0" listens on
//     0.0.0.0:4001).
//   - Only the listen address set: the advertised address is the listen
//     address, or 127.0.0.1 at its port when it names no single host
//     (":4001", "0.0.0.0:4001"); a host alone takes etcd 0.4's port.
func resolveSide(sd side, addr, bind *raw, scheme string) (endpoints, error) {
	if addr == nil && bind == nil {
		ep := endpoints{addr: sd.legacy, bind: sd.legacy}
		for _, a := range sd.pair {
			ep.listen = append(ep.listen, a)
			ep.urls = append(ep.urls, makeURL(scheme, a))
		}
		return ep, nil
	}

	var ep endpoints
	var advPort string
	if addr != nil {
		host, port, err := splitAddr(addr.text, false)
		if err != nil {
			return ep, &Error{Setting: sd.addrSetting, Source: addr.where, Value: addr.text, Err: err}
		}
		if host == "" {
			return ep, &Error{Setting: sd.addrSetting, Source: addr.where, Value: addr.text,
				Err: invalid("needs a host: it is the address others use to reach this member")}
		}
		ep.addr = net.JoinHostPort(host, port)
		advPort = port
	}

	if bind == nil {
		ep.bind = ep.addr
	} else {
		host, port, err := splitAddr(bind.text, true)
		if err != nil {
			return ep, &Error{Setting: sd.bindSetting, Source: bind.where, Value: bind.text, Err: err}
		}
		if port == "" {
			port = advPort
			if port == "" {
				_, port, _ = net.SplitHostPort(sd.legacy)
			}
		}
		ep.bind = net.JoinHostPort(host, port)
		if addr == nil {
			advHost := host
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				advHost = "127.0.0.1"
			}
			ep.addr = net.JoinHostPort(advHost, port)
		}
	}
	ep.listen = []string{ep.bind}
	ep.urls = []string{makeURL(scheme, ep.addr)}
	return ep, nil
}

func makeURL(scheme, hostport string) string {
	return (&url.URL{Scheme: scheme, Host: hostport}).String()
}

// splitAddr splits host:port and checks both parts. With hostOnlyOK, a
// host without a port (a name, an IPv4 or IPv6 address, bracketed or not)
// is accepted and returned with an empty port.
func splitAddr(s string, hostOnlyOK bool) (host, port string, err error) {
	if strings.Contains(s, "://") {
		return "", "", invalid("want host:port without a scheme")
	}
	host, port, splitErr := net.SplitHostPort(s)
	if splitErr != nil {
		if !hostOnlyOK {
			if !strings.Contains(s, ":") || net.ParseIP(s) != nil {
				return "", "", invalid("missing port: want host:port")
			}
			return "", "", invalid("want host:port")
		}
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if host == "" {
			return "", "", invalid("empty address")
		}
		if strings.Contains(host, ":") && net.ParseIP(stripZone(host)) == nil {
			return "", "", invalid("want host or host:port")
		}
		if err := checkHost(host); err != nil {
			return "", "", err
		}
		return host, "", nil
	}
	if err := checkHost(host); err != nil {
		return "", "", err
	}
	if err := checkPort(port); err != nil {
		return "", "", err
	}
	return host, port, nil
}

func stripZone(h string) string {
	if i := strings.IndexByte(h, '%'); i >= 0 {
		return h[:i]
	}
	return h
}

// checkHost accepts an empty host (every interface), an IP address, or a
// DNS name made of letters, digits, '-', '_' and '.'.
func checkHost(h string) error {
	if h == "" {
		return nil
	}
	if net.ParseIP(stripZone(h)) != nil {
		return nil
	}
	for _, r := range h {
		ok := r == '-' || r == '.' || r == '_' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return invalid("host %q is neither an IP address nor a host name", h)
		}
	}
	return nil
}

// checkPort accepts a decimal port from 0 to 65535; 0 lets the system pick
// one, which tests use.
func checkPort(p string) error {
	if p == "" {
		return invalid("missing port: want host:port")
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return invalid("port %q is not a number from 0 to 65535", p)
	}
	return nil
}

// checkPeerAddr accepts a peer as host:port or http(s)://host:port, the two
// forms etcd 0.4 users wrote in -peers.
func checkPeerAddr(p string) error {
	hostport := p
	if strings.Contains(p, "://") {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return invalid("peer %q: want host:port or http(s)://host:port", p)
		}
		hostport = u.Host
	}
	host, _, err := splitAddr(hostport, false)
	if err != nil {
		return invalid("peer %q: want host:port or http(s)://host:port", p)
	}
	if host == "" {
		return invalid("peer %q: needs a host", p)
	}
	return nil
}

package discovery

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Member is one registration in a token directory.
type Member struct {
	// ID is the member ID, the registration's key read as hex. It is 0 for
	// an etcd 0.4-style registration, whose key is the member's name.
	ID uint64
	// Name is the member's -name.
	Name string
	// PeerURLs are where the member's peer port listens, e.g.
	// "http://10.0.1.10:7001".
	PeerURLs []string
	// Index is the registration's createdIndex in the discovery service;
	// registration order is Index order.
	Index uint64
}

// idKey is the key a member registers under: its ID in lower-case hex
// without padding, as etcd 2 writes it.
func idKey(id uint64) string { return strconv.FormatUint(id, 16) }

// encodeRegistration is the value a member registers: etcd 2's
// initial-cluster form, one "name=url" per peer URL, comma-separated.
func encodeRegistration(name string, peerURLs []string) string {
	parts := make([]string, len(peerURLs))
	for i, u := range peerURLs {
		parts[i] = name + "=" + u
	}
	return strings.Join(parts, ",")
}

// parseRegistration reads the registration stored at key (the last path
// element) with createdIndex index. It accepts etcd 2's "name=url[,name=url]"
// and etcd 0.4's bare peer address ("10.0.1.10:7001", keyed by name).
func parseRegistration(key, value string, index uint64) (Member, error) {
	m := Member{Index: index}
	if id, err := strconv.ParseUint(key, 16, 64); err == nil && id != 0 {
		m.ID = id
	}
	if !strings.Contains(value, "=") {
		// etcd 0.4: the key is the name and the value one peer address.
		if key == "" {
			return Member{}, fmt.Errorf("discovery: registration %q without a name", value)
		}
		u, err := peerURL(value)
		if err != nil {
			return Member{}, fmt.Errorf("discovery: registration %s=%q: %w", key, value, err)
		}
		m.ID, m.Name, m.PeerURLs = 0, key, []string{u}
		return m, nil
	}
	for part := range strings.SplitSeq(value, ",") {
		name, raw, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return Member{}, fmt.Errorf("discovery: registration %s=%q: want name=url[,name=url...]", key, value)
		}
		if m.Name != "" && name != m.Name {
			return Member{}, fmt.Errorf("discovery: registration %s=%q: names %q and %q in one registration", key, value, m.Name, name)
		}
		u, err := peerURL(raw)
		if err != nil {
			return Member{}, fmt.Errorf("discovery: registration %s=%q: %w", key, value, err)
		}
		m.Name = name
		m.PeerURLs = append(m.PeerURLs, u)
	}
	return m, nil
}

// peerURL checks a registered peer address, adding http:// when it has no
// scheme (etcd 0.4 registered "host:port").
func peerURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("bad peer URL %q", s)
	}
	return s, nil
}

// sameURLs says whether a and b hold the same URLs in any order.
func sameURLs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// names lists the members' names, for messages.
func names(ms []Member) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return strings.Join(out, ", ")
}

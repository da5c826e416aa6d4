package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/arbor-kv/arbor/internal/store"
)

// Digest summarises a store's whole replicated state: every node, hidden
// ones included, with its value, indexes and expiration, the store index,
// the last Sync time and the write counters. Two members that applied the
// same log have the same digest. Read counters are left out: every member
// counts only the reads it served.
//
// It hashes the store's snapshot encoding (see internal/store's snapshot
// format, version 1), skipping the two read counters and the checksum.
func Digest(st *store.Store) (string, error) {
	var buf bytes.Buffer
	if _, err := st.Snapshot().WriteTo(&buf); err != nil {
		return "", err
	}
	return digestSnapshot(buf.Bytes())
}

const (
	snapMagic   = "ARBORSNP"
	snapVersion = 1
	snapCounts  = 15 // counters in the header; the first two count reads
)

func digestSnapshot(b []byte) (string, error) {
	if len(b) < len(snapMagic)+1+4 || string(b[:len(snapMagic)]) != snapMagic {
		return "", errors.New("cluster: not a store snapshot")
	}
	if v := b[len(snapMagic)]; v != snapVersion {
		return "", fmt.Errorf("cluster: store snapshot version %d; Digest knows version %d", v, snapVersion)
	}
	body := b[len(snapMagic)+1 : len(b)-4] // the CRC covers the read counters too
	r := bytes.NewReader(body)
	h := sha256.New()
	next := func(signed bool) error {
		var err error
		var v uint64
		if signed {
			var x int64
			x, err = binary.ReadVarint(r)
			v = uint64(x)
		} else {
			v, err = binary.ReadUvarint(r)
		}
		if err != nil {
			return fmt.Errorf("cluster: truncated store snapshot header: %w", err)
		}
		return binary.Write(h, binary.BigEndian, v)
	}
	if err := next(false); err != nil { // store index
		return "", err
	}
	synced, err := r.ReadByte()
	if err != nil {
		return "", err
	}
	h.Write([]byte{synced})
	if err := next(true); err != nil { // last sync time
		return "", err
	}
	for i := range snapCounts {
		if i < 2 { // GetSuccess, GetFail: this member's reads
			if _, err := binary.ReadUvarint(r); err != nil {
				return "", err
			}
			continue
		}
		if err := next(false); err != nil {
			return "", err
		}
	}
	if _, err := io.Copy(h, r); err != nil { // entry count and entries
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// Digest is the digest of member m's store (see the Digest function).
func (m *Member) Digest() (string, error) {
	srv := m.Server()
	if srv == nil {
		return "", fmt.Errorf("cluster: %s is stopped", m.Name)
	}
	return Digest(srv.Store())
}

// Dump renders member m's whole store (hidden keys included) one node
// per line, for the message of a failed comparison.
func (m *Member) Dump() string {
	srv := m.Server()
	if srv == nil {
		return m.Name + " is stopped"
	}
	var out strings.Builder
	var walk func(path string)
	walk = func(path string) {
		ev, err := srv.Store().Get(path, false, true, time.Now())
		if err != nil {
			fmt.Fprintf(&out, "%s: %v\n", path, err)
			return
		}
		n := ev.Node
		var val string
		if n.Value != nil {
			val = *n.Value
		}
		fmt.Fprintf(&out, "%s dir=%v value=%q created=%d modified=%d\n", n.Key, n.Dir, val, n.CreatedIndex, n.ModifiedIndex)
		for _, child := range n.Nodes {
			walk(child.Key)
		}
	}
	walk("/")
	// Hidden nodes are not listed in their parents; show the one tree
	// every member has.
	walk(machinesKey)
	return fmt.Sprintf("store index %d:\n%s", srv.Store().Index(), out.String())
}

const machinesKey = "/_etcd/machines"

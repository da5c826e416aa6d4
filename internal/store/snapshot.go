package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"

	"github.com/tidwall/btree"
)

// Snapshot is the store's state at one index, frozen by a copy-on-write copy
// of the tree: taking it is O(1), and writes applied afterwards copy the
// btree nodes they touch instead of changing the ones the Snapshot reads.
type Snapshot struct {
	tree     *btree.BTreeG[entry]
	idx      uint64
	lastSync int64
	synced   bool
	stats    Stats
}

// Snapshot format, version 1 (all integers varints unless noted):
//
//	magic "ARBORSNP" | version byte (1)
//	uvarint index | byte synced | varint lastSync
//	15 uvarint counters (statsFields order)
//	uvarint entry count
//	entries in key order, each:
//	  byte flags (1 dir, 2 has expiration)
//	  uvarint shared prefix length with the previous key | uvarint suffix length | suffix
//	  uvarint value length | value
//	  uvarint createdIndex | uvarint modifiedIndex | [varint expiration]
//	4 bytes little-endian CRC-32C of everything before it
const (
	snapMagic   = "ARBORSNP"
	snapVersion = 1

	snapDir    = 1
	snapExp    = 2
	snapFlags  = snapDir | snapExp
	snapBufLen = 256 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// statsFields lists the counters a snapshot carries, in format order.
func statsFields(st *Stats) []*uint64 {
	return []*uint64{
		&st.GetSuccess, &st.GetFail, &st.SetSuccess, &st.SetFail,
		&st.DeleteSuccess, &st.DeleteFail, &st.UpdateSuccess, &st.UpdateFail,
		&st.CreateSuccess, &st.CreateFail, &st.CompareAndSwapSuccess, &st.CompareAndSwapFail,
		&st.CompareAndDeleteSuccess, &st.CompareAndDeleteFail, &st.ExpireCount,
	}
}

func (s *Store) snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.counts
	st.GetSuccess, st.GetFail = s.getOK.Load(), s.getFail.Load()
	return &Snapshot{tree: s.tree.IsoCopy(), idx: s.idx, lastSync: s.lastSync, synced: s.synced, stats: st}
}

func (sn *Snapshot) storeIndex() uint64 { return sn.idx }

// crcWriter counts and checksums what passes through it.
type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.n += int64(n)
	return n, err
}

func (sn *Snapshot) writeTo(w io.Writer) (int64, error) {
	cw := &crcWriter{w: w}
	bw := bufio.NewWriterSize(cw, snapBufLen)
	b := make([]byte, 0, 512)
	b = append(b, snapMagic...)
	b = append(b, snapVersion)
	b = binary.AppendUvarint(b, sn.idx)
	if sn.synced {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, sn.lastSync)
	st := sn.stats
	for _, f := range statsFields(&st) {
		b = binary.AppendUvarint(b, *f)
	}
	b = binary.AppendUvarint(b, uint64(sn.tree.Len()))
	if _, err := bw.Write(b); err != nil {
		return cw.n, fmt.Errorf("store: write snapshot: %w", err)
	}
	var (
		prev string
		err  error
	)
	sn.tree.Scan(func(e entry) bool {
		k := e.key()
		shared := 0
		for shared < len(prev) && shared < len(k) && prev[shared] == k[shared] {
			shared++
		}
		var flags byte
		if e.dir() {
			flags |= snapDir
		}
		if e.exp != 0 {
			flags |= snapExp
		}
		b = append(b[:0], flags)
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(len(k)-shared))
		if _, err = bw.Write(b); err != nil {
			return false
		}
		if _, err = bw.WriteString(k[shared:]); err != nil {
			return false
		}
		v := e.val()
		b = binary.AppendUvarint(b[:0], uint64(len(v)))
		if _, err = bw.Write(b); err != nil {
			return false
		}
		if _, err = bw.WriteString(v); err != nil {
			return false
		}
		b = binary.AppendUvarint(b[:0], e.created)
		b = binary.AppendUvarint(b, e.modified)
		if e.exp != 0 {
			b = binary.AppendVarint(b, e.exp)
		}
		_, err = bw.Write(b)
		prev = k
		return err == nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return cw.n, fmt.Errorf("store: write snapshot: %w", err)
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], cw.crc)
	n, err := w.Write(sum[:])
	cw.n += int64(n)
	if err != nil {
		return cw.n, fmt.Errorf("store: write snapshot: %w", err)
	}
	return cw.n, nil
}

// snapReader is a buffered reader that checksums what it consumes and
// decodes varints straight from its buffer.
type snapReader struct {
	r        io.Reader
	buf      []byte
	pos, end int
	// hashed: buf[hashed:pos] is consumed but not yet in crc.
	hashed int
	crc    uint32
	eof    bool
	err    error
}

func (d *snapReader) setErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

// fill makes at least n bytes available at buf[pos:] (n <= len(buf)) and
// reports whether it could.
func (d *snapReader) fill(n int) bool {
	if d.end-d.pos >= n {
		return true
	}
	if d.err != nil {
		return false
	}
	d.crc = crc32.Update(d.crc, castagnoli, d.buf[d.hashed:d.pos])
	copy(d.buf, d.buf[d.pos:d.end])
	d.end -= d.pos
	d.pos, d.hashed = 0, 0
	for empty := 0; d.end < n && !d.eof; {
		m, err := d.r.Read(d.buf[d.end:])
		d.end += m
		switch {
		case err == io.EOF:
			d.eof = true
		case err != nil:
			d.setErr(fmt.Errorf("store: read snapshot: %w", err))
			return false
		case m == 0:
			if empty++; empty > 100 {
				d.setErr(fmt.Errorf("store: read snapshot: %w", io.ErrNoProgress))
				return false
			}
		}
	}
	return d.end-d.pos >= n
}

func (d *snapReader) truncated(what string) {
	d.setErr(corrupt("snapshot: truncated or invalid " + what))
}

func (d *snapReader) byte(what string) byte {
	if !d.fill(1) {
		d.truncated(what)
		return 0
	}
	c := d.buf[d.pos]
	d.pos++
	return c
}

func (d *snapReader) uvarint(what string) uint64 {
	if d.end-d.pos < binary.MaxVarintLen64 {
		d.fill(binary.MaxVarintLen64) // a short read is fine near the end
	}
	v, n := binary.Uvarint(d.buf[d.pos:d.end])
	if n <= 0 {
		d.truncated(what)
		return 0
	}
	d.pos += n
	return v
}

func (d *snapReader) varint(what string) int64 {
	if d.end-d.pos < binary.MaxVarintLen64 {
		d.fill(binary.MaxVarintLen64)
	}
	v, n := binary.Varint(d.buf[d.pos:d.end])
	if n <= 0 {
		d.truncated(what)
		return 0
	}
	d.pos += n
	return v
}

// appendBytes appends the next n bytes to dst. Memory grows only as data
// actually arrives, so a garbage length cannot trigger a huge allocation.
func (d *snapReader) appendBytes(dst []byte, n uint64, what string) []byte {
	for n > 0 && d.err == nil {
		if d.pos == d.end && !d.fill(1) {
			d.truncated(what)
			return dst
		}
		m := uint64(d.end - d.pos)
		if m > n {
			m = n
		}
		dst = append(dst, d.buf[d.pos:d.pos+int(m)]...)
		d.pos += int(m)
		n -= m
	}
	return dst
}

// inline returns the next n bytes from the buffer when they fit in it; the
// slice is valid until the next read.
func (d *snapReader) inline(n uint64) ([]byte, bool) {
	if n > uint64(len(d.buf)) || !d.fill(int(n)) {
		return nil, false
	}
	b := d.buf[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, true
}

// checksum consumes the trailer and compares it with what was read.
func (d *snapReader) checksum() {
	if d.err != nil {
		return
	}
	d.crc = crc32.Update(d.crc, castagnoli, d.buf[d.hashed:d.pos])
	d.hashed = d.pos
	want := d.crc
	if !d.fill(4) {
		d.truncated("checksum")
		return
	}
	if binary.LittleEndian.Uint32(d.buf[d.pos:]) != want {
		d.setErr(corrupt("snapshot: checksum mismatch"))
	}
	d.pos += 4
	d.hashed = d.pos
}

// restored is a decoded snapshot, ready to replace the store's state.
type restored struct {
	tree     *btree.BTreeG[entry]
	ttl      *btree.BTreeG[ttlItem]
	idx      uint64
	lastSync int64
	synced   bool
	stats    Stats
}

func decodeSnapshot(r io.Reader) (*restored, error) {
	d := &snapReader{r: r, buf: make([]byte, snapBufLen)}
	if !d.fill(len(snapMagic)+1) || string(d.buf[:len(snapMagic)]) != snapMagic {
		if d.err != nil {
			return nil, d.err
		}
		return nil, corrupt("snapshot: bad magic")
	}
	d.pos = len(snapMagic)
	if v := d.byte("version"); v != snapVersion {
		return nil, corrupt(fmt.Sprintf("snapshot: unknown version %d", v))
	}
	out := &restored{tree: newTree(), ttl: newTTLTree()}
	out.idx = d.uvarint("index")
	switch d.byte("synced") {
	case 0:
	case 1:
		out.synced = true
	default:
		d.truncated("synced flag")
	}
	out.lastSync = d.varint("last sync")
	for _, f := range statsFields(&out.stats) {
		*f = d.uvarint("counters")
	}
	count := d.uvarint("entry count")
	var (
		key  []byte
		val  []byte
		ttls []ttlItem
		sb   strings.Builder
	)
	load := startTreeLoad(out.tree)
	for i := uint64(0); i < count && d.err == nil; i++ {
		flags := d.byte("entry flags")
		shared := d.uvarint("key prefix")
		suffix := d.uvarint("key length")
		if d.err != nil {
			break
		}
		if flags&^snapFlags != 0 || shared > uint64(len(key)) || suffix == 0 {
			d.truncated("entry header")
			break
		}
		prevLen := len(key)
		prevDiffers := shared < uint64(prevLen)
		var prevByte byte
		if prevDiffers {
			prevByte = key[shared]
		}
		key = d.appendBytes(key[:shared], suffix, "key")
		if d.err != nil {
			break
		}
		// Keys must be strictly increasing (Load needs sorted input), so
		// the first new byte must sort after the old key's byte there, or
		// the old key must be a proper prefix of the new one.
		if (prevDiffers && key[shared] <= prevByte) || key[0] != '/' || len(key) < 2 || key[len(key)-1] == '/' {
			d.truncated("key order")
			break
		}
		vlen := d.uvarint("value length")
		if d.err != nil {
			break
		}
		if len(key)+int(min(vlen, 1<<31)) > 1<<31 {
			d.truncated("value length")
			break
		}
		sb.Reset()
		if v, ok := d.inline(vlen); ok {
			sb.Grow(len(key) + len(v))
			sb.Write(key)
			sb.Write(v)
		} else {
			val = d.appendBytes(val[:0], vlen, "value")
			if d.err != nil {
				break
			}
			sb.Grow(len(key) + len(val))
			sb.Write(key)
			sb.Write(val)
		}
		e := entry{kv: sb.String(), klen: uint32(len(key))}
		if flags&snapDir != 0 {
			e.flags = flagDir
		}
		e.created = d.uvarint("created index")
		e.modified = d.uvarint("modified index")
		if flags&snapExp != 0 {
			e.exp = d.varint("expiration")
			if e.exp == 0 {
				d.truncated("expiration")
			}
		}
		if d.err != nil {
			break
		}
		if e.created > e.modified || e.modified > out.idx {
			d.truncated("node indexes")
			break
		}
		load.add(e)
		if e.exp != 0 {
			ttls = append(ttls, ttlItem{exp: e.exp, key: e.key()})
		}
	}
	load.finish()
	d.checksum()
	if d.err != nil {
		return nil, d.err
	}
	slices.SortFunc(ttls, func(a, b ttlItem) int {
		if a.exp != b.exp {
			if a.exp < b.exp {
				return -1
			}
			return 1
		}
		return strings.Compare(a.key, b.key)
	})
	for _, it := range ttls {
		out.ttl.Load(it)
	}
	return out, nil
}

// treeLoad bulk-loads entries, in key order, into a tree on a goroutine
// of its own, so that decoding a snapshot (allocating and copying every
// node, mostly page faults into a fresh heap) and building the tree go
// on at once: a quarter off a restart's snapshot load.
type treeLoad struct {
	batch []entry
	full  chan []entry // batches to load, in order
	free  chan []entry // loaded batches, for reuse
	done  chan struct{}
}

const treeLoadBatch = 4096

func startTreeLoad(t *btree.BTreeG[entry]) *treeLoad {
	l := &treeLoad{full: make(chan []entry, 2), free: make(chan []entry, 3), done: make(chan struct{})}
	for range cap(l.free) {
		l.free <- make([]entry, 0, treeLoadBatch)
	}
	l.batch = <-l.free
	go func() {
		defer close(l.done)
		for b := range l.full {
			for _, e := range b {
				t.Load(e)
			}
			clear(b)
			l.free <- b[:0]
		}
	}()
	return l
}

func (l *treeLoad) add(e entry) {
	l.batch = append(l.batch, e)
	if len(l.batch) == treeLoadBatch {
		l.full <- l.batch
		l.batch = <-l.free
	}
}

// finish loads what is left and waits until the tree holds everything.
func (l *treeLoad) finish() {
	if len(l.batch) > 0 {
		l.full <- l.batch
	}
	close(l.full)
	<-l.done
}

func (s *Store) restore(r io.Reader) error {
	if r == nil {
		return errors.New("store: restore: nil reader")
	}
	st, err := decodeSnapshot(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.publishIndex()
	s.tree, s.ttl = st.tree, st.ttl
	s.idx, s.lastSync, s.synced = st.idx, st.lastSync, st.synced
	s.getOK.Store(st.stats.GetSuccess)
	s.getFail.Store(st.stats.GetFail)
	st.stats.GetSuccess, st.stats.GetFail, st.stats.Watchers = 0, 0, 0
	s.counts = st.stats
	s.hist.reset(st.idx + 1)
	s.hub.clearAllLocked(st.idx)
	return nil
}

package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/fileutil"
)

// DefaultSegmentSize is the size at which a segment is closed and a new one
// started, and how much space each segment reserves up front.
const DefaultSegmentSize = 64 << 20

var (
	// ErrNotFound is returned by Open when dir holds no WAL segment.
	ErrNotFound = errors.New("wal: no WAL in directory")
	// ErrExist is returned by Create when dir already holds a WAL.
	ErrExist = errors.New("wal: directory already holds a WAL")
	// ErrSnapshotMismatch is returned (wrapped, with the indexes) by Open
	// when the log cannot continue from the caller's snapshot index: entries
	// between the snapshot and the first logged entry are missing, or the log
	// records a newer snapshot that replaced entries the caller lacks.
	ErrSnapshotMismatch = errors.New("wal: log does not continue from the snapshot")
	// ErrClosed is returned by calls on a closed WAL.
	ErrClosed = errors.New("wal: closed")
)

// CorruptError reports a damaged record anywhere other than the torn tail
// of the last segment, or a structural fault (a missing segment, a segment
// whose head does not match its name). Recovery must refuse to start on it:
// cutting the log there could drop entries that were acknowledged.
type CorruptError struct {
	Path   string // the segment file
	Offset int64  // byte offset of the damaged record in that file
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt record in %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// Option configures Create and Open.
type Option func(*options)

type options struct {
	segmentSize int64
	holdSyncs   bool
}

// HoldSyncs makes syncs keep their P while syncs are quick (see fdatasync):
// more writes/s, but a disk that stalls holds up garbage collection, and
// with it every goroutine, for as long as one sync lasts. Off by default.
func HoldSyncs(on bool) Option {
	return func(o *options) { o.holdSyncs = on }
}

// SegmentSize sets the size at which segments roll (default
// DefaultSegmentSize). A batch is never split across segments, so a segment
// may exceed it by up to one batch. Tests use tiny sizes to get many
// segments.
func SegmentSize(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.segmentSize = n
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{segmentSize: DefaultSegmentSize}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WAL is an open write-ahead log positioned for appends.
//
// A WAL is not safe for concurrent use: Save, SaveSnapshot, ReleaseTo and
// Close must be called from one goroutine (or be otherwise serialised).
// Once a write or sync fails, every later call returns that error: after a
// failed fsync the kernel may have dropped the dirty pages, so the only
// safe recovery is to reopen (and so re-read) the log.
type WAL struct {
	dir  string
	log  *slog.Logger
	opts options

	metadata []byte
	// hs and the snapshot marker are repeated at the head of every new
	// segment, so that releasing older segments never loses them.
	hs                  raftpb.HardState
	syncs               uint64 // fdatasync calls, for tests
	snapIndex, snapTerm uint64
	// lastIndex is the highest index the log has reached (last entry or
	// snapshot); a new segment is named after lastIndex+1.
	lastIndex uint64

	// segs are the live segments, oldest first. Invariant: len(segs) >= 1
	// and the last one is the file f being written.
	segs []segment
	f    *os.File
	// off is where the next record goes in f. Invariant: off >= headEnd.
	off int64
	// headEnd is the offset just past f's head records; a segment holding
	// only its head is never rolled, whatever the batch size.
	headEnd int64

	buf []byte // encoding buffer reused by Save
	err error  // sticky failure, see the type comment

	spare *spare // the next segment, being written ahead; nil if none

	// lastSync is how long the last fdatasync took: with HoldSyncs, a
	// sync holds its P (see fdatasync) only while the one before took
	// under holdSyncUnder, so a slow disk gets plain syncs; the first
	// sync of a stall still holds its P for as long as it lasts.
	lastSync time.Duration
}

// holdSyncUnder bounds the syncs after which the next one holds its P.
const holdSyncUnder = 2 * time.Millisecond

// Exist reports whether dir holds a WAL (at least one segment file).
func Exist(dir string) bool {
	segs, err := listSegments(dir)
	return err == nil && len(segs) > 0
}

// Create makes dir (if needed) and a new WAL in it whose every segment
// starts with metadata (opaque bytes, e.g. member and cluster IDs, at most
// MaxRecordSize). It fails with ErrExist if dir already holds a WAL.
func Create(dir string, metadata []byte, log *slog.Logger, opts ...Option) (*WAL, error) {
	if len(metadata) > MaxRecordSize {
		return nil, fmt.Errorf("wal: metadata of %d bytes exceeds the record limit", len(metadata))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal: create: %w", err)
	}
	if Exist(dir) {
		return nil, ErrExist
	}
	if err := removeTemps(dir); err != nil {
		return nil, fmt.Errorf("wal: create: %w", err)
	}
	w := &WAL{
		dir:      dir,
		log:      orDiscard(log),
		opts:     buildOptions(opts),
		metadata: bytes.Clone(metadata),
	}
	if err := w.startSegment(0); err != nil {
		return nil, fmt.Errorf("wal: create: %w", err)
	}
	// The directory entry for dir itself may be new too.
	if err := fileutil.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		w.Close()
		return nil, fmt.Errorf("wal: create: %w", err)
	}
	return w, nil
}

// Open opens the WAL in dir, reads every record, repairs a torn tail and
// positions the WAL for appends.
//
// It returns the metadata given to Create, the last HardState saved (if
// any, its Commit raised to snapIndex when lower: the snapshot holds only
// committed entries, and a crash may have come between saving it and
// saving the hard state, which Raft would otherwise reject), and the
// entries with Index > snapIndex, contiguous from snapIndex+1. A later entry for an index replaces the earlier one and
// everything after it, as Raft overwrites a conflicting suffix. The caller
// owns the returned slices.
//
// A torn record at the tail of the last segment is cut away with a log
// line. Any other damage fails with a *CorruptError, and then Open has not
// modified anything. ErrNotFound means dir has no WAL; ErrSnapshotMismatch
// means snapIndex does not fit the log (see its comment).
func Open(dir string, snapIndex uint64, log *slog.Logger, opts ...Option) (w *WAL, metadata []byte, hs raftpb.HardState, ents []raftpb.Entry, err error) {
	w = &WAL{dir: dir, log: orDiscard(log), opts: buildOptions(opts)}
	segs, err := listSegments(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(segs) == 0) {
		return nil, nil, hs, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, hs, nil, fmt.Errorf("wal: open: %w", err)
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, nil, hs, nil, &CorruptError{Path: segs[i].path, Offset: 0,
				Reason: fmt.Sprintf("segment %d is missing before it", segs[i-1].seq+1)}
		}
	}

	r := replay{base: snapIndex}
	var buf []byte
	var res scanResult
	for i := range segs {
		seg := &segs[i]
		buf, err = readFileInto(buf, seg.path)
		if err != nil {
			return nil, nil, hs, nil, fmt.Errorf("wal: open: %w", err)
		}
		last := i == len(segs)-1
		r.startSegment(seg)
		res, err = scanSegment(seg.path, buf, last, r.visit)
		if err != nil {
			return nil, nil, hs, nil, err
		}
		if r.nrec < 2 {
			return nil, nil, hs, nil, &CorruptError{Path: seg.path, Offset: int64(res.end), Reason: "segment head (segment and metadata records) incomplete"}
		}
		if last {
			w.headEnd = int64(r.headEnd)
		}
	}
	buf = nil

	// Everything checks out: only now touch the disk.
	lastSeg := &segs[len(segs)-1]
	f, err := os.OpenFile(lastSeg.path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, hs, nil, fmt.Errorf("wal: open: %w", err)
	}
	if res.torn {
		w.log.Warn("wal: truncating torn record at the tail of the log",
			"path", lastSeg.path, "offset", res.end, "torn_bytes", res.tornBytes, "reason", res.reason)
		if err := f.Truncate(int64(res.end)); err != nil {
			f.Close()
			return nil, nil, hs, nil, fmt.Errorf("wal: repair torn tail: %w", err)
		}
	}
	// Re-reserve space: after a repair, or when the segment was finished
	// (truncated) just before a crash kept its successor from appearing.
	if err := preallocate(f, w.opts.segmentSize); err != nil {
		f.Close()
		return nil, nil, hs, nil, fmt.Errorf("wal: open: %w", err)
	}
	if res.torn {
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, hs, nil, fmt.Errorf("wal: repair torn tail: %w", err)
		}
	}
	if err := removeTemps(dir); err != nil {
		f.Close()
		return nil, nil, hs, nil, fmt.Errorf("wal: open: %w", err)
	}

	w.segs = segs
	w.f = f
	w.off = int64(res.end)
	w.metadata = r.metadata
	w.hs = r.hs
	w.snapIndex, w.snapTerm = r.snapIndex, r.snapTerm
	w.lastIndex = max(r.lastIndex, r.snapIndex, snapIndex)

	hs = r.hs
	if hs != (raftpb.HardState{}) && hs.Commit < snapIndex {
		hs.Commit = snapIndex
	}
	return w, bytes.Clone(r.metadata), hs, r.ents, nil
}

// replay rebuilds the log's state from records in order.
type replay struct {
	base uint64 // the caller's snapIndex; ents[i].Index == base+1+i

	seg     *segment
	nrec    int // records seen in the current segment
	headEnd int // offset just past the current segment's head records

	metadata            []byte
	hs                  raftpb.HardState
	snapIndex, snapTerm uint64
	lastIndex           uint64
	ents                []raftpb.Entry
}

func (r *replay) startSegment(seg *segment) {
	r.seg = seg
	r.nrec = 0
	r.headEnd = 0
}

func (r *replay) corrupt(off int, format string, args ...any) error {
	return &CorruptError{Path: r.seg.path, Offset: int64(off), Reason: fmt.Sprintf(format, args...)}
}

func (r *replay) visit(off int, typ byte, payload []byte) error {
	r.nrec++
	switch r.nrec {
	case 1:
		if typ != typeSegment {
			return r.corrupt(off, "segment does not start with a segment record (type %d)", typ)
		}
		version, seq, ok := decodeSegmentHeader(payload)
		if !ok {
			return r.corrupt(off, "malformed segment record")
		}
		if version != formatVersion {
			return r.corrupt(off, "unsupported format version %d", version)
		}
		if seq != r.seg.seq {
			return r.corrupt(off, "segment record says sequence %d, file name says %d", seq, r.seg.seq)
		}
		r.headEnd = off + headerSize + len(payload)
		return nil
	case 2:
		if typ != typeMetadata {
			return r.corrupt(off, "segment record not followed by metadata (type %d)", typ)
		}
		if r.metadata != nil && !bytes.Equal(r.metadata, payload) {
			return r.corrupt(off, "metadata differs from the previous segment's")
		}
		if r.metadata == nil {
			r.metadata = bytes.Clone(payload)
			if r.metadata == nil {
				r.metadata = []byte{}
			}
		}
		r.headEnd = off + headerSize + len(payload)
		return nil
	}
	switch typ {
	case typeEntry:
		// Entries the caller's snapshot covers (the WAL keeps one snapshot
		// interval more, as a fallback) are skipped without decoding them.
		if idx, ok := peekEntryIndex(payload); ok && idx <= r.base {
			r.seg.maxIndex = max(r.seg.maxIndex, idx)
			r.lastIndex = idx
			return nil
		}
		var e raftpb.Entry
		if err := e.Unmarshal(payload); err != nil {
			return r.corrupt(off, "undecodable entry: %v", err)
		}
		r.seg.maxIndex = max(r.seg.maxIndex, e.Index)
		r.lastIndex = e.Index
		if e.Index <= r.base {
			return nil // covered by the caller's snapshot
		}
		n := e.Index - r.base - 1
		if n > uint64(len(r.ents)) {
			return fmt.Errorf("%w: opening after index %d, but the log jumps from index %d to %d (%s offset %d)",
				ErrSnapshotMismatch, r.base, r.base+uint64(len(r.ents)), e.Index, r.seg.path, off)
		}
		r.ents = append(r.ents[:n], e)
	case typeHardState:
		var hs raftpb.HardState
		if err := hs.Unmarshal(payload); err != nil {
			return r.corrupt(off, "undecodable hard state: %v", err)
		}
		r.hs = hs
	case typeSnapshot:
		index, term, ok := decodeSnapshotMarker(payload)
		if !ok {
			return r.corrupt(off, "malformed snapshot record")
		}
		r.snapIndex, r.snapTerm = index, term
		if index <= r.base {
			return nil
		}
		// A snapshot newer than the caller's. Fine if it was taken from this
		// very log (the entry at its index is here with its term); otherwise
		// Raft replaced the log with it and the caller needs that snapshot.
		if n := index - r.base - 1; n < uint64(len(r.ents)) && r.ents[n].Term == term {
			return nil
		}
		return fmt.Errorf("%w: opening after index %d, but the log records a snapshot at index %d term %d that replaced entries before it (%s offset %d)",
			ErrSnapshotMismatch, r.base, index, term, r.seg.path, off)
	case typeMetadata, typeSegment:
		return r.corrupt(off, "record type %d only belongs at a segment's head", typ)
	}
	return nil
}

// Save appends ents (contiguous, ascending) and then hs (skipped when
// empty). When Raft requires it (new entries, or a new term or vote) it
// makes everything durable with one fdatasync before returning; a change of
// the commit index alone is written without one, as Raft allows. The batch goes out in a single write; it
// starts a new segment first when it would push the current one past the
// segment size.
func (w *WAL) Save(hs raftpb.HardState, ents []raftpb.Entry) error {
	if w.err != nil {
		return w.err
	}
	hasHS := hs != (raftpb.HardState{})
	if !hasHS && len(ents) == 0 {
		return nil
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].Index != ents[i-1].Index+1 {
			return fmt.Errorf("wal: save: entries not contiguous (index %d follows %d)", ents[i].Index, ents[i-1].Index)
		}
	}
	buf := w.buf[:0]
	for i := range ents {
		var err error
		if buf, err = appendEntry(buf, &ents[i]); err != nil {
			w.buf = buf[:0]
			return err
		}
	}
	if hasHS {
		var err error
		if buf, err = appendHardState(buf, &hs); err != nil {
			w.buf = buf[:0]
			return err
		}
	}
	w.buf = buf[:0]

	if w.off > w.headEnd && w.off+int64(len(buf)) > w.opts.segmentSize {
		if err := w.roll(); err != nil {
			return w.fail(err)
		}
	}
	// Raft needs new entries and term/vote changes on stable storage before
	// it acts on them; a commit index that moved on alone may be lost (it is
	// re-learned), so it is written but rides on the next fsync.
	mustSync := len(ents) > 0 || (hasHS && (hs.Term != w.hs.Term || hs.Vote != w.hs.Vote))
	if err := w.write(buf, mustSync); err != nil {
		return err
	}
	cur := &w.segs[len(w.segs)-1]
	if len(ents) > 0 {
		last := ents[len(ents)-1].Index
		w.lastIndex = last
		// The batch's highest index is its last one (contiguous).
		cur.maxIndex = max(cur.maxIndex, last)
	}
	if hasHS {
		w.hs = hs
	}
	return nil
}

// SaveSnapshot records, durably, that a snapshot at (index, term) has been
// saved. Call it after the snapshot file is durable and before ReleaseTo.
// Open checks its snapIndex against these records.
func (w *WAL) SaveSnapshot(index, term uint64) error {
	if w.err != nil {
		return w.err
	}
	buf := appendRecord(w.buf[:0], typeSnapshot, encodeSnapshotMarker(index, term))
	w.buf = buf[:0]
	if w.off > w.headEnd && w.off+int64(len(buf)) > w.opts.segmentSize {
		if err := w.roll(); err != nil {
			return w.fail(err)
		}
	}
	if err := w.writeSync(buf); err != nil {
		return err
	}
	w.snapIndex, w.snapTerm = index, term
	w.lastIndex = max(w.lastIndex, index)
	return nil
}

// ReleaseTo deletes the oldest segments whose entries all have
// Index <= index: Release, then Remove of what it released.
func (w *WAL) ReleaseTo(index uint64) error {
	r, err := w.Release(index)
	if err != nil {
		return err
	}
	return r.Remove()
}

// Release drops from the log the oldest segments whose entries all have
// Index <= index, stopping at the first that does not qualify and never
// touching the segment being written. index is capped at the last
// snapshot recorded with SaveSnapshot, so entries not covered by a
// snapshot are never released. The files stay until the returned
// Released's Remove deletes them, which any goroutine may do: unlinking a
// large file can take the file system tens of milliseconds, too long for
// the goroutine that writes the log. Until then a restart simply finds
// them again.
func (w *WAL) Release(index uint64) (Released, error) {
	if w.err != nil {
		return Released{}, w.err
	}
	index = min(index, w.snapIndex)
	n := 0
	for n < len(w.segs)-1 && w.segs[n].maxIndex <= index {
		n++
	}
	r := Released{dir: w.dir, log: w.log}
	for _, seg := range w.segs[:n] {
		r.paths = append(r.paths, seg.path)
	}
	w.segs = append(w.segs[:0], w.segs[n:]...)
	return r, nil
}

// Released are segment files dropped from the log, oldest first.
type Released struct {
	dir   string
	paths []string
	log   *slog.Logger
}

// Remove deletes the files oldest first, so that a crash midway still
// leaves a contiguous log, and syncs the directory. Large files are
// truncated a few megabytes at a time before they go (see
// fileutil.RemoveGradually), so Remove takes a while; it belongs off the
// goroutine that writes the log. Successive Releases'
// files must be removed in the order they were released.
func (r Released) Remove() error {
	if len(r.paths) == 0 {
		return nil
	}
	for _, p := range r.paths {
		// Renamed to a temp name first: Open deletes what a crash leaves.
		if err := fileutil.RemoveGradually(p, p+tmpSuffix); err != nil {
			return fmt.Errorf("wal: release: %w", err)
		}
		r.log.Debug("wal: released segment", "path", p)
	}
	if err := fileutil.SyncDir(r.dir); err != nil {
		return fmt.Errorf("wal: release: %w", err)
	}
	return nil
}

// Close closes the segment file. Everything Save returned for is already
// durable, so Close does not sync. Calling Close twice is harmless.
func (w *WAL) Close() error {
	w.dropSpare()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if w.err == nil {
		w.err = ErrClosed
	}
	return err
}

func (w *WAL) fail(err error) error {
	w.err = err
	return err
}

// writeSync writes buf at the current offset and fdatasyncs.
func (w *WAL) writeSync(buf []byte) error { return w.write(buf, true) }

// write appends buf to the current segment and, if sync, makes everything
// written so far durable.
func (w *WAL) write(buf []byte, sync bool) error {
	if _, err := w.f.WriteAt(buf, w.off); err != nil {
		return w.fail(fmt.Errorf("wal: write: %w", err))
	}
	w.off += int64(len(buf))
	w.maybePrepareSpare()
	if !sync {
		return nil
	}
	w.syncs++
	hold := w.opts.holdSyncs && w.lastSync < holdSyncUnder && runtime.GOMAXPROCS(0) >= 2
	if hold {
		HeldSyncs.Add(1)
	}
	start := time.Now()
	err := fdatasync(w.f, hold)
	w.lastSync = time.Since(start)
	FsyncDuration.Observe(w.lastSync.Seconds())
	if err != nil {
		return w.fail(fmt.Errorf("wal: sync: %w", err))
	}
	return nil
}

// roll finishes the current segment and starts the next one.
func (w *WAL) roll() error {
	// Give back the unused reservation. Not needed for correctness (the
	// reader stops at zeros), so the sync only keeps disk usage honest.
	if err := w.f.Truncate(w.off); err != nil {
		return fmt.Errorf("wal: roll: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("wal: roll: %w", err)
	}
	old := w.f
	if err := w.startSegment(w.segs[len(w.segs)-1].seq + 1); err != nil {
		return fmt.Errorf("wal: roll: %w", err)
	}
	return old.Close()
}

// startSegment creates segment seq with its head records under a temporary
// name, makes it durable, and renames it into place: a segment file either
// does not exist or has a complete head. It becomes the segment written to.
func (w *WAL) startSegment(seq uint64) error {
	seg := segment{seq: seq, first: w.lastIndex + 1}
	seg.path = filepath.Join(w.dir, segmentName(seq, seg.first))
	tmp := seg.path[:len(seg.path)-len(segmentSuffix)] + tmpSuffix

	head := appendRecord(nil, typeSegment, encodeSegmentHeader(seq))
	head = appendRecord(head, typeMetadata, w.metadata)
	if w.snapIndex != 0 || w.snapTerm != 0 {
		head = appendRecord(head, typeSnapshot, encodeSnapshotMarker(w.snapIndex, w.snapTerm))
	}
	if w.hs != (raftpb.HardState{}) {
		var err error
		if head, err = appendHardState(head, &w.hs); err != nil {
			return err
		}
	}

	// A spare written ahead is the new segment if it is ready; otherwise
	// space is reserved now.
	f := w.takeSpare()
	fromSpare := f != nil
	if fromSpare {
		tmp = filepath.Join(w.dir, spareName)
	} else {
		var err error
		if f, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
	}
	cleanup := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if !fromSpare {
		if err := preallocate(f, w.opts.segmentSize); err != nil {
			return cleanup(err)
		}
	}
	if _, err := f.WriteAt(head, 0); err != nil {
		return cleanup(err)
	}
	if err := f.Sync(); err != nil {
		return cleanup(err)
	}
	if err := os.Rename(tmp, seg.path); err != nil {
		return cleanup(err)
	}
	if err := fileutil.SyncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.segs = append(w.segs, seg)
	w.f = f
	w.off = int64(len(head))
	w.headEnd = int64(len(head))
	return nil
}

func appendEntry(buf []byte, e *raftpb.Entry) ([]byte, error) {
	size := e.Size()
	if size > MaxRecordSize {
		return buf, fmt.Errorf("wal: save: entry %d is %d bytes, over the %d byte limit", e.Index, size, MaxRecordSize)
	}
	start := len(buf)
	buf = grow(buf, headerSize+size)
	if _, err := e.MarshalToSizedBuffer(buf[start+headerSize:]); err != nil {
		return buf[:start], fmt.Errorf("wal: save: marshal entry %d: %w", e.Index, err)
	}
	sealRecord(buf[start:], typeEntry)
	return buf, nil
}

func appendHardState(buf []byte, hs *raftpb.HardState) ([]byte, error) {
	size := hs.Size()
	start := len(buf)
	buf = grow(buf, headerSize+size)
	if _, err := hs.MarshalToSizedBuffer(buf[start+headerSize:]); err != nil {
		return buf[:start], fmt.Errorf("wal: save: marshal hard state: %w", err)
	}
	sealRecord(buf[start:], typeHardState)
	return buf, nil
}

// grow extends buf by n bytes (contents unspecified).
func grow(buf []byte, n int) []byte {
	if cap(buf)-len(buf) < n {
		nb := make([]byte, len(buf), 2*cap(buf)+n)
		copy(nb, buf)
		buf = nb
	}
	return buf[:len(buf)+n]
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

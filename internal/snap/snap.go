package snap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/fileutil"
)

// ErrNoSnapshot is returned by Load when no usable snapshot exists.
var ErrNoSnapshot = errors.New("snap: no usable snapshot")

// Meta describes the Raft position a snapshot captures.
type Meta struct {
	Index, Term uint64
	ConfState   raftpb.ConfState
	// Members is the member's own description of the cluster at Index (the
	// server's membership registry, opaque here): ConfState has only IDs.
	Members []byte
}

const (
	magic = "ARBORSNP"
	// version 2 added Members; version 1 files (ConfState only) still load.
	version = 2

	// prefixSize is magic, version and the meta length.
	prefixSize = 8 + 4 + 4
	// trailerSize is the body length and the file CRC.
	trailerSize = 8 + 4
	// maxMetaSize bounds the encoded Meta; a ConfState of even thousands of
	// members is far below it, so a larger value means a damaged header.
	maxMetaSize = 1 << 20
	// metaFixed is index and term ahead of the encoded ConfState (and, from
	// version 2, of its length).
	metaFixed = 16

	snapSuffix = ".snap"
	tmpSuffix  = ".tmp"

	bufSize = 256 << 10
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// inProgress holds the temp paths of Saves running in this process, so a
// concurrent Purge does not delete a snapshot being written.
var inProgress sync.Map // path -> struct{}

// tempSeq makes temp names unique within the process.
var tempSeq atomic.Uint64

func fileName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapSuffix)
}

// parseFileName accepts exactly the names fileName produces.
func parseFileName(name string) (term, index uint64, ok bool) {
	if len(name) != 16+1+16+len(snapSuffix) || !strings.HasSuffix(name, snapSuffix) {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(name[:33], "%016x-%016x", &term, &index); err != nil {
		return 0, 0, false
	}
	return term, index, fileName(term, index) == name
}

// isTempName matches the names Save's temp files get:
// "<term>-<index>.snap.<random>.tmp".
func isTempName(name string) bool {
	return strings.Contains(name, snapSuffix+".") && strings.HasSuffix(name, tmpSuffix)
}

// progressKey names a temp file independently of how the caller spelled
// the directory.
func progressKey(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// encodeHeader returns the header: prefix, meta and the header CRC.
func encodeHeader(meta Meta) ([]byte, error) {
	cs, err := meta.ConfState.Marshal()
	if err != nil {
		return nil, fmt.Errorf("snap: marshal conf state: %w", err)
	}
	metaLen := metaFixed + 4 + len(cs) + len(meta.Members)
	if metaLen > maxMetaSize {
		return nil, fmt.Errorf("snap: conf state and members of %d bytes are too large", metaLen)
	}
	b := make([]byte, 0, prefixSize+metaLen+4)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint32(b, uint32(metaLen))
	b = binary.LittleEndian.AppendUint64(b, meta.Index)
	b = binary.LittleEndian.AppendUint64(b, meta.Term)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cs)))
	b = append(b, cs...)
	b = append(b, meta.Members...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	return b, nil
}

// headerLen reads the prefix and says how long the whole header is. It
// never trusts the length beyond maxMetaSize.
func headerLen(prefix []byte) (int, error) {
	if len(prefix) < prefixSize {
		return 0, errors.New("file shorter than a header")
	}
	if string(prefix[:8]) != magic {
		return 0, errors.New("bad magic")
	}
	if v := binary.LittleEndian.Uint32(prefix[8:12]); v != 1 && v != version {
		return 0, fmt.Errorf("unsupported version %d", v)
	}
	metaLen := binary.LittleEndian.Uint32(prefix[12:16])
	if metaLen < metaFixed || metaLen > maxMetaSize {
		return 0, fmt.Errorf("meta length %d out of range", metaLen)
	}
	return prefixSize + int(metaLen) + 4, nil
}

// decodeHeader checks and decodes a whole header as sized by headerLen.
func decodeHeader(h []byte) (Meta, error) {
	n, err := headerLen(h)
	if err != nil {
		return Meta{}, err
	}
	if len(h) != n {
		return Meta{}, fmt.Errorf("header is %d bytes, want %d", len(h), n)
	}
	if crc32.Checksum(h[:n-4], crcTable) != binary.LittleEndian.Uint32(h[n-4:]) {
		return Meta{}, errors.New("header crc mismatch")
	}
	m := h[prefixSize : n-4]
	meta := Meta{
		Index: binary.LittleEndian.Uint64(m[0:8]),
		Term:  binary.LittleEndian.Uint64(m[8:16]),
	}
	cs := m[metaFixed:]
	if binary.LittleEndian.Uint32(h[8:12]) >= 2 {
		if len(cs) < 4 {
			return Meta{}, errors.New("meta too short for its conf state length")
		}
		n := binary.LittleEndian.Uint32(cs)
		if uint64(n) > uint64(len(cs)-4) {
			return Meta{}, fmt.Errorf("conf state length %d beyond the meta", n)
		}
		if rest := cs[4+n:]; len(rest) > 0 {
			meta.Members = bytes.Clone(rest)
		}
		cs = cs[4 : 4+n]
	}
	if err := meta.ConfState.Unmarshal(cs); err != nil {
		return Meta{}, fmt.Errorf("undecodable conf state: %w", err)
	}
	return meta, nil
}

// Save writes a snapshot file atomically and returns its final path,
// "<dir>/<term>-<index>.snap" (16 hex digits each).
//
// The body is whatever write produces, streamed through a buffer straight
// to the file; it is never held in memory. Save writes to a temp file in
// dir, appends the trailer, fsyncs, renames it into place and fsyncs dir,
// so a crash leaves either the old set of snapshots or the new one plus
// possibly a temp file (ignored by Load, deleted by Purge). An error from
// write aborts the save and is returned wrapped. Save may run in another
// goroutine than Load and Purge.
func Save(dir string, meta Meta, write func(io.Writer) error) (path string, err error) {
	start := time.Now()
	hdr, err := encodeHeader(meta)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	final := filepath.Join(dir, fileName(meta.Term, meta.Index))
	// The temp file is marked in progress before it exists, so a Purge
	// running meanwhile can never see it unmarked.
	tmp := filepath.Join(dir, fmt.Sprintf("%s.%d-%d%s", fileName(meta.Term, meta.Index), os.Getpid(), tempSeq.Add(1), tmpSuffix))
	inProgress.Store(progressKey(tmp), struct{}{})
	defer inProgress.Delete(progressKey(tmp))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()

	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(&syncingWriter{f: f}, crc), bufSize)
	if _, err := bw.Write(hdr); err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	body := &countWriter{w: bw}
	if err := write(body); err != nil {
		return "", fmt.Errorf("snap: save: write body: %w", err)
	}
	var bodyLen [8]byte
	binary.LittleEndian.PutUint64(bodyLen[:], body.n)
	if _, err := bw.Write(bodyLen[:]); err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	if _, err := f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	done = true
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("snap: save: %w", err)
	}
	if err := fileutil.SyncDir(dir); err != nil {
		return "", fmt.Errorf("snap: save: %w", err)
	}
	SaveDuration.Observe(time.Since(start).Seconds())
	return final, nil
}

type countWriter struct {
	w io.Writer
	n uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

// hashReader feeds everything read through it into a CRC.
type hashReader struct {
	r io.Reader
	h hash.Hash32
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// Load finds the newest snapshot (highest index, then term) whose header is
// valid and calls restore with its Meta and a buffered reader of its body.
// restore must consume the body; Load then checks the file CRC over what
// was read plus any unread rest. If the file is damaged or restore fails,
// Load logs why and tries the next older snapshot, so restore must reset
// whatever a failed attempt left behind. It returns the Meta of the
// snapshot restored, or ErrNoSnapshot when none could be.
func Load(dir string, log *slog.Logger, restore func(Meta, io.Reader) error) (Meta, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	snaps, err := list(dir)
	if errors.Is(err, os.ErrNotExist) {
		return Meta{}, ErrNoSnapshot
	}
	if err != nil {
		return Meta{}, fmt.Errorf("snap: load: %w", err)
	}
	for _, s := range snaps {
		meta, err := loadFile(s.path, restore)
		if err == nil {
			return meta, nil
		}
		log.Warn("snap: skipping unusable snapshot", "path", s.path, "err", err)
	}
	return Meta{}, ErrNoSnapshot
}

// loadFile checks one snapshot file and, if its header holds up, streams
// its body to restore and verifies the CRC.
func loadFile(path string, restore func(Meta, io.Reader) error) (Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Meta{}, err
	}
	size := st.Size()

	prefix := make([]byte, prefixSize)
	if _, err := f.ReadAt(prefix, 0); err != nil {
		return Meta{}, errors.New("file shorter than a header")
	}
	n, err := headerLen(prefix)
	if err != nil {
		return Meta{}, err
	}
	if int64(n)+trailerSize > size {
		return Meta{}, fmt.Errorf("file of %d bytes too short for its %d-byte header", size, n)
	}
	hdr := make([]byte, n)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return Meta{}, err
	}
	meta, err := decodeHeader(hdr)
	if err != nil {
		return Meta{}, err
	}
	if term, index, _ := parseFileName(filepath.Base(path)); term != meta.Term || index != meta.Index {
		return Meta{}, fmt.Errorf("header says term %d index %d, not what the name says", meta.Term, meta.Index)
	}
	var trailer [trailerSize]byte
	if _, err := f.ReadAt(trailer[:], size-trailerSize); err != nil {
		return Meta{}, err
	}
	bodyLen := size - int64(n) - trailerSize
	if got := binary.LittleEndian.Uint64(trailer[0:8]); got != uint64(bodyLen) {
		return Meta{}, fmt.Errorf("trailer records a %d-byte body but the file holds %d (truncated?)", got, bodyLen)
	}

	crc := crc32.New(crcTable)
	crc.Write(hdr)
	hr := &hashReader{r: io.NewSectionReader(f, int64(n), bodyLen), h: crc}
	if err := restore(meta, bufio.NewReaderSize(hr, bufSize)); err != nil {
		return Meta{}, fmt.Errorf("restore: %w", err)
	}
	// Whatever restore left unread (including what the buffer read ahead
	// of it) still has to pass through the CRC.
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return Meta{}, err
	}
	crc.Write(trailer[0:8])
	if crc.Sum32() != binary.LittleEndian.Uint32(trailer[8:12]) {
		return Meta{}, errors.New("crc mismatch")
	}
	return meta, nil
}

// NewestIndex is the index in the name of the newest snapshot file in dir
// (0 if there is none): what Load returns unless that file turns out to be
// unusable. It reads no file.
func NewestIndex(dir string) uint64 {
	snaps, err := list(dir)
	if err != nil || len(snaps) == 0 {
		return 0
	}
	return snaps[0].index
}

type fileInfo struct {
	term, index uint64
	path        string
}

// list returns dir's snapshot files, newest first.
func list(dir string) ([]fileInfo, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []fileInfo
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		if term, index, ok := parseFileName(de.Name()); ok {
			out = append(out, fileInfo{term: term, index: index, path: filepath.Join(dir, de.Name())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].index != out[j].index {
			return out[i].index > out[j].index
		}
		return out[i].term > out[j].term
	})
	return out, nil
}

// Purge deletes all but the newest keep snapshot files (by index, then
// term; validity is not checked, so keep at least 2 to leave Load a
// fallback), and temp files left by crashed Saves. Temp files of Saves
// still running in this process are left alone. keep must be at least 1.
func Purge(dir string, keep int) error {
	if keep < 1 {
		return fmt.Errorf("snap: purge: keep %d: at least one snapshot must be kept", keep)
	}
	snaps, err := list(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snap: purge: %w", err)
	}
	var errs []error
	if len(snaps) > keep {
		for _, s := range snaps[keep:] {
			// Under a temp name while it shrinks: Purge deletes what a
			// crash leaves, and Load never sees a shortened snapshot.
			if err := fileutil.RemoveGradually(s.path, s.path+".purged"+tmpSuffix); err != nil {
				errs = append(errs, err)
			}
		}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("snap: purge: %w", err)
	}
	for _, de := range des {
		if !isTempName(de.Name()) {
			continue
		}
		p := filepath.Join(dir, de.Name())
		if _, busy := inProgress.Load(progressKey(p)); busy {
			continue
		}
		if err := fileutil.RemoveGradually(p, p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("snap: purge: %w", err)
	}
	return nil
}

// syncEvery bounds the dirty data a snapshot leaves in the page cache. A
// snapshot of a large store is hundreds of MB; flushed in one final fsync,
// it makes the WAL's fsyncs (which acknowledge client writes) wait behind
// it for hundreds of milliseconds. Syncing as it goes keeps each flush
// short; the snapshot is written in the background, so its own pace does
// not matter.
const syncEvery = 8 << 20

// syncingWriter fsyncs the file after every syncEvery bytes.
type syncingWriter struct {
	f       *os.File
	pending int
}

func (w *syncingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.pending += n
	if err == nil && w.pending >= syncEvery {
		err = w.f.Sync()
		w.pending = 0
	}
	return n, err
}

package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const (
	segmentSuffix = ".wal"
	tmpSuffix     = ".wal.tmp"
)

// segment is one live segment file.
type segment struct {
	seq   uint64 // position in the log; consecutive from the oldest live segment
	first uint64 // from the name: the index after the log's last entry when it was started (a hint)
	path  string
	// maxIndex is the largest entry index written in this segment (0 if
	// none). ReleaseTo deletes a segment only when maxIndex says it holds
	// nothing the caller still needs.
	maxIndex uint64
}

func segmentName(seq, first uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, first, segmentSuffix)
}

// parseSegmentName accepts exactly the names segmentName produces, so that
// stray files (editor backups, "copy of" files) are never read as log.
func parseSegmentName(name string) (seq, first uint64, ok bool) {
	if len(name) != 16+1+16+len(segmentSuffix) || !strings.HasSuffix(name, segmentSuffix) || name[16] != '-' {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(name[:33], "%016x-%016x", &seq, &first); err != nil {
		return 0, 0, false
	}
	if segmentName(seq, first) != name {
		return 0, 0, false
	}
	return seq, first, true
}

// listSegments returns dir's segments ordered by sequence number.
func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		seq, first, ok := parseSegmentName(de.Name())
		if !ok {
			continue
		}
		segs = append(segs, segment{seq: seq, first: first, path: filepath.Join(dir, de.Name())})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
	return segs, nil
}

// removeTemps deletes segment files a crash left half-made. They were
// never renamed into place, so they hold nothing the log depends on.
func removeTemps(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// scanResult says where a segment's valid records end.
type scanResult struct {
	// end is the offset just past the last valid record: where appends go.
	end int
	// torn is set when the bytes from end on are a torn write to be cut
	// away; reason says what was wrong with the record there.
	torn   bool
	reason string
	// tornBytes is how much non-zero data the cut drops.
	tornBytes int
}

// scanSegment walks the records in buf, the whole content of the segment
// at path, calling visit for each valid one in order. It applies the
// torn-versus-corrupt rule (see doc.go): only the last segment may end in a
// torn record; any other damage is a *CorruptError. A visit error is
// returned as is.
func scanSegment(path string, buf []byte, last bool, visit func(off int, typ byte, payload []byte) error) (scanResult, error) {
	off := 0
	for off < len(buf) {
		typ, payload, n, err := decodeRecord(buf[off:])
		if err == nil {
			if err := visit(off, typ, payload); err != nil {
				return scanResult{}, err
			}
			off += n
			continue
		}
		rest := buf[off+n:] // whatever follows the damaged record's claimed extent
		switch {
		case errors.Is(err, errZeroHeader) && allZero(rest):
			// Clean end: the unused, preallocated part of the segment.
			return scanResult{end: off}, nil
		case errors.Is(err, errZeroHeader):
			return scanResult{}, &CorruptError{Path: path, Offset: int64(off), Reason: "zeroed record header followed by data"}
		case errors.Is(err, errBadType):
			// The CRC matched, so this record was written whole: not torn.
			return scanResult{}, &CorruptError{Path: path, Offset: int64(off), Reason: fmt.Sprintf("unknown record type %d", typ)}
		case last && (errors.Is(err, errShort) || allZero(rest)):
			dropped := len(bytes.TrimRight(buf[off:], "\x00"))
			return scanResult{end: off, torn: true, reason: err.Error(), tornBytes: dropped}, nil
		case errors.Is(err, errShort):
			return scanResult{}, &CorruptError{Path: path, Offset: int64(off), Reason: err.Error() + " (not the last segment)"}
		default:
			return scanResult{}, &CorruptError{Path: path, Offset: int64(off), Reason: err.Error() + " (valid data follows)"}
		}
	}
	return scanResult{end: off}, nil
}

// readFileInto reads the whole file at path into buf's storage, growing it
// if needed, so Open can reuse one buffer for every segment.
func readFileInto(buf []byte, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return buf, err
	}
	size := st.Size()
	if int64(int(size)) != size {
		return buf, fmt.Errorf("wal: segment %s too large (%d bytes)", path, size)
	}
	if cap(buf) < int(size) {
		// Headroom: segments differ in size by a few KB (a finished one
		// is cut to its records, the last one has its full reservation),
		// and a buffer grown for each would cost a fresh 64 MiB of page
		// faults per segment, a third of a restart's time to read the log.
		buf = make([]byte, size, size+size/4)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf, err
	}
	return buf, nil
}

func encodeSnapshotMarker(index, term uint64) []byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:8], index)
	binary.LittleEndian.PutUint64(b[8:16], term)
	return b[:]
}

func decodeSnapshotMarker(p []byte) (index, term uint64, ok bool) {
	if len(p) != 16 {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(p[0:8]), binary.LittleEndian.Uint64(p[8:16]), true
}

func encodeSegmentHeader(seq uint64) []byte {
	var b [12]byte
	binary.LittleEndian.PutUint32(b[0:4], formatVersion)
	binary.LittleEndian.PutUint64(b[4:12], seq)
	return b[:]
}

func decodeSegmentHeader(p []byte) (version uint32, seq uint64, ok bool) {
	if len(p) != 12 {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint32(p[0:4]), binary.LittleEndian.Uint64(p[4:12]), true
}

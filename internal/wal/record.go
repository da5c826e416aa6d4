package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Record types. Zero is deliberately not a type: a zeroed header is how a
// preallocated segment says "nothing written here yet".
const (
	typeSegment   byte = 1 // first record of every segment: format version and sequence number
	typeMetadata  byte = 2 // caller's opaque metadata, repeated at the head of every segment
	typeEntry     byte = 3 // one raftpb.Entry
	typeHardState byte = 4 // one raftpb.HardState
	typeSnapshot  byte = 5 // snapshot marker: index and term, 16 bytes
)

const (
	// headerSize is the framing in front of every payload: length (4),
	// CRC (4), type (1).
	headerSize = 9

	// MaxRecordSize bounds one record's payload. Save refuses larger entries
	// so the log never holds a record its reader would reject, and the
	// reader treats a larger length as damage rather than trusting it.
	MaxRecordSize = 64 << 20

	// formatVersion is written in every segment's first record.
	formatVersion = 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Decoding outcomes other than success. They are classified into "torn"
// or "corrupt" by the segment scanner, which knows where in the log the
// record sits; the record decoder alone cannot tell.
var (
	errZeroHeader = errors.New("zeroed record header")
	errShort      = errors.New("record runs past the end of the file")
	errTooLarge   = errors.New("record length exceeds the maximum")
	errCRC        = errors.New("crc mismatch")
	errBadType    = errors.New("unknown record type")
)

// recordCRC covers the length, the type and the payload: everything in the
// record except the CRC field itself, so a damaged length is caught too.
func recordCRC(hdr []byte, payload []byte) uint32 {
	c := crc32.Update(0, crcTable, hdr[0:4])
	c = crc32.Update(c, crcTable, hdr[8:9])
	return crc32.Update(c, crcTable, payload)
}

// appendRecord appends one framed record to buf.
func appendRecord(buf []byte, typ byte, payload []byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf = append(buf, payload...)
	sealRecord(buf[start:], typ)
	return buf
}

// sealRecord fills in the header of rec, whose payload is already in
// place after headerSize bytes. It lets callers marshal straight into the
// output buffer.
func sealRecord(rec []byte, typ byte) {
	payload := rec[headerSize:]
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	rec[8] = typ
	binary.LittleEndian.PutUint32(rec[4:8], recordCRC(rec, payload))
}

// decodeRecord decodes the record at the start of buf. On success it
// returns the type, the payload (aliasing buf) and the record's total size.
// It never allocates and never reads past buf, whatever buf holds.
//
// On failure, n is how far the damaged record claims to extend (header
// plus claimed payload, or just the header when the length is unusable),
// so the caller can check what lies beyond it.
func decodeRecord(buf []byte) (typ byte, payload []byte, n int, err error) {
	if len(buf) < headerSize {
		if allZero(buf) {
			return 0, nil, len(buf), errZeroHeader
		}
		return 0, nil, len(buf), errShort
	}
	hdr := buf[:headerSize]
	if allZero(hdr) {
		return 0, nil, headerSize, errZeroHeader
	}
	length := binary.LittleEndian.Uint32(hdr[0:4])
	if length > MaxRecordSize {
		return 0, nil, headerSize, errTooLarge
	}
	n = headerSize + int(length)
	if n > len(buf) {
		return 0, nil, len(buf), errShort
	}
	payload = buf[headerSize:n]
	if binary.LittleEndian.Uint32(hdr[4:8]) != recordCRC(hdr, payload) {
		return 0, nil, n, errCRC
	}
	typ = hdr[8]
	if typ < typeSegment || typ > typeSnapshot {
		return typ, nil, n, errBadType
	}
	return typ, payload, n, nil
}

func allZero(b []byte) bool {
	// Comparing 8 bytes at a time keeps the tail check of a 64 MiB
	// preallocated segment cheap.
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// peekEntryIndex reads the Index field (3) of a marshalled raftpb.Entry
// without decoding the rest. ok is false if the payload is not the simple
// shape it expects; the caller then decodes it in full.
func peekEntryIndex(b []byte) (index uint64, ok bool) {
	found := false
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		switch tag & 7 {
		case 0: // varint
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return 0, false
			}
			if tag>>3 == 3 {
				index, found = v, true // protobuf: the last occurrence wins
			}
			b = b[n:]
		case 2: // length-delimited
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return 0, false
			}
			b = b[n+int(l):]
		default:
			return 0, false
		}
	}
	return index, found
}

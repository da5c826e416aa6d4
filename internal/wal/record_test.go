package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// validSegment returns the bytes of a small well-formed segment with every
// record type.
func validSegment(t testing.TB) []byte {
	b := appendRecord(nil, typeSegment, encodeSegmentHeader(0))
	b = appendRecord(b, typeMetadata, []byte("meta"))
	b = appendRecord(b, typeSnapshot, encodeSnapshotMarker(0, 0))
	for _, e := range mkEnts(1, 3, 1, 12) {
		var err error
		if b, err = appendEntry(b, &e); err != nil {
			t.Fatal(err)
		}
	}
	hs := raftpb.HardState{Term: 1, Vote: 2, Commit: 3}
	b, err := appendHardState(b, &hs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecordTable(t *testing.T) {
	good := appendRecord(nil, typeEntry, []byte("payload"))
	badType := appendRecord(nil, 0x7f, []byte("x"))
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[0:4], MaxRecordSize+1)
	long := bytes.Clone(good)
	binary.LittleEndian.PutUint32(long[0:4], 1000)
	flipped := bytes.Clone(good)
	flipped[headerSize] ^= 0x80
	lenFlipped := bytes.Clone(good)
	lenFlipped[0] ^= 0x01 // one byte shorter: still in range, CRC must catch it

	for _, tc := range []struct {
		name string
		in   []byte
		err  error
		n    int
	}{
		{"good", good, nil, len(good)},
		{"good with trailer", append(bytes.Clone(good), 1, 2, 3), nil, len(good)},
		{"empty", nil, errZeroHeader, 0},
		{"zeros", make([]byte, 20), errZeroHeader, headerSize},
		{"short zeros", make([]byte, 4), errZeroHeader, 4},
		{"short header", good[:5], errShort, 5},
		{"short payload", good[:len(good)-1], errShort, len(good) - 1},
		{"length beyond file", long, errShort, len(long)},
		{"huge length", huge, errTooLarge, headerSize},
		{"crc", flipped, errCRC, len(good)},
		{"length flipped", lenFlipped, errCRC, len(good) - 1},
		{"bad type", badType, errBadType, len(badType)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, payload, n, err := decodeRecord(tc.in)
			if !errors.Is(err, tc.err) || n != tc.n {
				t.Fatalf("decodeRecord = n %d err %v, want n %d err %v", n, err, tc.n, tc.err)
			}
			if err == nil && (typ != typeEntry || string(payload) != "payload") {
				t.Fatalf("decoded type %d payload %q", typ, payload)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	seg := validSegment(f)
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(append(bytes.Clone(seg), make([]byte, 64)...))
	for i := 0; i < len(seg); i += 7 {
		c := bytes.Clone(seg)
		c[i] ^= 0xff
		f.Add(c)
	}
	f.Add([]byte{})
	f.Add(make([]byte, headerSize))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 3})
	f.Add(appendRecord(nil, 0x7f, []byte("x")))
	f.Add(appendRecord(nil, typeEntry, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
	f.Add(appendRecord(nil, typeSnapshot, []byte("short")))

	f.Fuzz(func(t *testing.T, data []byte) {
		typ, payload, n, err := decodeRecord(data)
		if n < 0 || n > len(data) {
			t.Fatalf("n = %d outside [0, %d]", n, len(data))
		}
		if err == nil {
			if re := appendRecord(nil, typ, payload); !bytes.Equal(re, data[:n]) {
				t.Fatalf("re-encoding differs:\n%x\n%x", re, data[:n])
			}
		}
		// The whole scanner plus replay must hold up too, as last segment
		// (torn tails allowed) and as an earlier one.
		for _, last := range []bool{true, false} {
			seg := &segment{seq: 0, path: "fuzz"}
			r := replay{}
			r.startSegment(seg)
			res, err := scanSegment(seg.path, data, last, r.visit)
			if err != nil {
				var ce *CorruptError
				if errors.As(err, &ce) && (ce.Offset < 0 || ce.Offset > int64(len(data))) {
					t.Fatalf("corrupt offset %d outside the data (%d)", ce.Offset, len(data))
				}
				continue
			}
			if res.end < 0 || res.end > len(data) {
				t.Fatalf("end %d outside [0, %d]", res.end, len(data))
			}
			if res.torn && !last {
				t.Fatal("torn tail reported for a segment that is not the last")
			}
		}
	})
}

func FuzzPeekEntryIndex(f *testing.F) {
	for _, e := range []raftpb.Entry{{}, {Index: 1}, {Term: 7, Index: 1 << 40, Data: []byte("x")},
		{Type: raftpb.EntryConfChange, Term: 2, Index: 300, Data: make([]byte, 300)}} {
		b, _ := e.Marshal()
		f.Add(b)
	}
	f.Add([]byte{0x18})
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, ok := peekEntryIndex(b)
		var e raftpb.Entry
		if err := e.Unmarshal(b); err == nil && ok && idx != e.Index {
			t.Fatalf("peek %d, decode %d", idx, e.Index)
		}
	})
}

func TestPeekEntryIndexMatchesDecode(t *testing.T) {
	for _, e := range []raftpb.Entry{{Term: 7, Index: 1 << 40, Data: []byte("x")}, {Index: 5}} {
		b, _ := e.Marshal()
		if idx, ok := peekEntryIndex(b); !ok || idx != e.Index {
			t.Fatalf("peek(%+v) = %d, %v", e, idx, ok)
		}
	}
}

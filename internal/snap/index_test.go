package snap

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"testing"
)

func TestLoadIndexPicksThatSnapshot(t *testing.T) {
	dir := t.TempDir()
	mustSave(t, dir, 10, 1, 110, 2)
	mustSave(t, dir, 20, 2, 120, 2)
	mustSave(t, dir, 30, 2, 130, 2)
	restore, calls := checkBody(t, map[uint64]uint64{10: 110, 20: 120, 30: 130}, 2)
	m, err := LoadIndex(dir, 20, restore)
	if err != nil {
		t.Fatal(err)
	}
	if m.Index != 20 || m.Term != 2 || len(*calls) != 1 || (*calls)[0].Index != 20 {
		t.Fatalf("meta %+v, restore calls %+v", m, *calls)
	}
	if len(m.ConfState.Voters) != 3 || len(m.ConfState.Learners) != 1 {
		t.Fatalf("conf state %+v", m.ConfState)
	}
}

func TestLoadIndexMissingOrDamaged(t *testing.T) {
	dir := t.TempDir()
	restore, _ := checkBody(t, map[uint64]uint64{10: 110}, 2)
	if _, err := LoadIndex(dir+"/none", 10, restore); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no dir: %v", err)
	}
	p := mustSave(t, dir, 10, 1, 110, 2)
	if _, err := LoadIndex(dir, 11, restore); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other index: %v", err)
	}
	// Flip one body byte: the CRC check fails, and there is no fallback.
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	mustSave(t, dir, 5, 1, 105, 2)
	if _, err := LoadIndex(dir, 10, func(Meta, io.Reader) error { return nil }); err == nil {
		t.Fatal("damaged snapshot loaded")
	}
}

func TestMembersRoundTrip(t *testing.T) {
	dir := t.TempDir()
	members := []byte(`[{"id":1,"name":"a"}]`)
	if _, err := Save(dir, Meta{Index: 7, Term: 2, ConfState: testConf, Members: members}, writeBody(1, 1)); err != nil {
		t.Fatal(err)
	}
	m, err := LoadIndex(dir, 7, func(Meta, io.Reader) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Members) != string(members) || len(m.ConfState.Voters) != 3 || m.ConfState.Learners[0] != 9 {
		t.Fatalf("meta %+v", m)
	}
}

// Files written before Members existed (version 1: the conf state fills
// the rest of the meta) still load.
func TestVersion1HeaderDecodes(t *testing.T) {
	cs, err := testConf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte(magic), 1, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(metaFixed+len(cs)))
	b = binary.LittleEndian.AppendUint64(b, 12)
	b = binary.LittleEndian.AppendUint64(b, 3)
	b = append(b, cs...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	m, err := decodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Index != 12 || m.Term != 3 || len(m.ConfState.Voters) != 3 || m.Members != nil {
		t.Fatalf("meta %+v", m)
	}
}

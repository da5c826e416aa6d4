package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func TestFramesRoundTrip(t *testing.T) {
	msgs := []raftpb.Message{msg(1, 2, 3), snapMsg(1, 2, 9), {Type: raftpb.MsgHeartbeat, To: 2, From: 1, Context: []byte("ctx")}}
	var buf []byte
	for i := range msgs {
		var err error
		if buf, err = appendMessage(buf, &msgs[i], msgs[i].Size()); err != nil {
			t.Fatal(err)
		}
	}
	buf = appendToken(buf, framePing, 42)
	br := bufio.NewReader(bytes.NewReader(buf))
	var scratch []byte
	for i := range msgs {
		kind, payload, nb, err := readFrame(br, scratch, 1<<20)
		scratch = nb
		if err != nil || kind != frameMessage {
			t.Fatalf("frame %d: kind %d, %v", i, kind, err)
		}
		var m raftpb.Message
		if err := m.Unmarshal(payload); err != nil {
			t.Fatal(err)
		}
		if m.String() != msgs[i].String() {
			t.Fatalf("frame %d: %v, want %v", i, m.String(), msgs[i].String())
		}
	}
	kind, payload, _, err := readFrame(br, scratch, 1<<20)
	if token, terr := decodeToken(payload); err != nil || kind != framePing || terr != nil || token != 42 {
		t.Fatalf("ping: kind %d token %d, %v %v", kind, token, err, terr)
	}
	if _, _, _, err := readFrame(br, nil, 1<<20); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	full := appendToken(nil, framePing, 7)
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"cut in the header", full[:3], 64, io.ErrUnexpectedEOF},
		{"cut in the payload", full[:8], 64, io.ErrUnexpectedEOF},
		{"too large", full, 4, ErrFrameTooLarge},
	} {
		_, _, _, err := readFrame(bufio.NewReader(bytes.NewReader(tc.in)), nil, tc.max)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzReadFrame: any input decodes without panicking, within the size
// limit, and whatever decodes re-encodes to the same bytes.
func FuzzReadFrame(f *testing.F) {
	m, s := msg(1, 2, 3), snapMsg(1, 2, 9)
	seed, _ := appendMessage(nil, &m, m.Size())
	seed, _ = appendMessage(seed, &s, s.Size())
	seed = appendToken(seed, framePong, 5)
	f.Add(seed)
	f.Add(seed[:7])
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReader(bytes.NewReader(in))
		var out, buf []byte
		for {
			kind, payload, nb, err := readFrame(br, buf, 1<<16)
			buf = nb
			if err != nil {
				break
			}
			if len(payload) > 1<<16 {
				t.Fatalf("payload of %d bytes passed the limit", len(payload))
			}
			out = appendFrameHeader(out, kind, len(payload))
			out = append(out, payload...)
			if kind == frameMessage {
				var m raftpb.Message
				_ = m.Unmarshal(payload) // must not panic
			}
		}
		if !bytes.HasPrefix(in, out) {
			t.Fatal("decoded frames do not re-encode to the input")
		}
	})
}

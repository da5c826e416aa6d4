package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
)

// Frame kinds. A stream request body carries frameMessage and framePing;
// its response body carries framePong.
const (
	frameMessage byte = 1 // payload: one raftpb.Message, protobuf-encoded
	framePing    byte = 2 // payload: 8-byte token chosen by the sender
	framePong    byte = 3 // payload: the token of the ping it answers
)

// frameHeaderLen is the kind byte plus the big-endian uint32 payload length.
const frameHeaderLen = 5

// ErrFrameTooLarge is returned for a frame longer than the receiver allows.
var ErrFrameTooLarge = errors.New("transport: frame too large")

// appendFrameHeader appends a frame header for a payload of n bytes.
func appendFrameHeader(buf []byte, kind byte, n int) []byte {
	buf = append(buf, kind)
	return binary.BigEndian.AppendUint32(buf, uint32(n))
}

// appendMessage appends m, of encoded size m.Size(), as one message frame.
func appendMessage(buf []byte, m *raftpb.Message, size int) ([]byte, error) {
	buf = appendFrameHeader(buf, frameMessage, size)
	start := len(buf)
	buf = append(buf, make([]byte, size)...)
	if _, err := m.MarshalTo(buf[start:]); err != nil {
		return buf[:start-frameHeaderLen], fmt.Errorf("transport: encode %s: %w", m.Type, err)
	}
	return buf, nil
}

// appendToken appends a ping or pong frame.
func appendToken(buf []byte, kind byte, token uint64) []byte {
	buf = appendFrameHeader(buf, kind, 8)
	return binary.BigEndian.AppendUint64(buf, token)
}

// readFrame reads one frame. The payload aliases buf when it fits, so it is
// valid only until the next call. io.EOF means the stream ended cleanly
// between frames; io.ErrUnexpectedEOF that it was cut inside one.
func readFrame(r *bufio.Reader, buf []byte, maxSize int) (kind byte, payload, newBuf []byte, err error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if uint64(n) > uint64(maxSize) {
		return 0, nil, buf, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, maxSize)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	payload = buf[:n]
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, buf, err
	}
	return hdr[0], payload, buf, nil
}

// decodeToken reads a ping or pong payload.
func decodeToken(payload []byte) (uint64, error) {
	if len(payload) != 8 {
		return 0, fmt.Errorf("transport: token frame of %d bytes", len(payload))
	}
	return binary.BigEndian.Uint64(payload), nil
}

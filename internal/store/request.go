package store

import (
	"encoding/binary"
)

// requestVersion is the first byte of every encoded Request. Bump it when
// the layout changes, and keep decoding the old layouts: the log outlives
// the binary that wrote it.
const requestVersion = 1

// Request flag bits.
const (
	reqDir = 1 << iota
	reqRefresh
	reqRecursive
	reqPrevExistSet
	reqPrevExist
	reqFlagsAll = reqDir | reqRefresh | reqRecursive | reqPrevExistSet | reqPrevExist
)

// Marshal encodes r for the Raft log:
//
//	version(1) | uvarint ID | method(1) | flags(1) |
//	uvarint len + Path | uvarint len + Val | uvarint len + PrevValue |
//	uvarint PrevIndex | varint Expiration | varint Time
func (r *Request) Marshal() []byte {
	n := 3 + 4*binary.MaxVarintLen64 + 3*binary.MaxVarintLen32 + len(r.Path) + len(r.Val) + len(r.PrevValue)
	return r.AppendMarshal(make([]byte, 0, n))
}

// AppendMarshal appends r's encoding (see Marshal) to b.
func (r *Request) AppendMarshal(b []byte) []byte {
	b = append(b, requestVersion)
	b = binary.AppendUvarint(b, r.ID)
	var flags byte
	if r.Dir {
		flags |= reqDir
	}
	if r.Refresh {
		flags |= reqRefresh
	}
	if r.Recursive {
		flags |= reqRecursive
	}
	if r.PrevExist != nil {
		flags |= reqPrevExistSet
		if *r.PrevExist {
			flags |= reqPrevExist
		}
	}
	b = append(b, byte(r.Method), flags)
	for _, s := range [...]string{r.Path, r.Val, r.PrevValue} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, r.PrevIndex)
	b = binary.AppendVarint(b, r.Expiration)
	b = binary.AppendVarint(b, r.Time)
	return b
}

// Unmarshal decodes a Request written by Marshal. It never panics; on bad
// input it returns an error matching ErrCorrupt and leaves r unchanged.
func (r *Request) Unmarshal(b []byte) error {
	d := reqDecoder{b: b}
	if v := d.byte("version"); d.err == nil && v != requestVersion {
		return corrupt("request: unknown version")
	}
	var out Request
	out.ID = d.uvarint("id")
	out.Method = Method(d.byte("method"))
	flags := d.byte("flags")
	out.Path = d.string("path")
	out.Val = d.string("value")
	out.PrevValue = d.string("prevValue")
	out.PrevIndex = d.uvarint("prevIndex")
	out.Expiration = d.varint("expiration")
	out.Time = d.varint("time")
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return corrupt("request: trailing bytes")
	}
	if out.Method < MethodPut || out.Method > MethodExtend {
		return corrupt("request: unknown method")
	}
	if flags&^reqFlagsAll != 0 || (flags&reqPrevExist != 0 && flags&reqPrevExistSet == 0) {
		return corrupt("request: unknown flags")
	}
	out.Dir = flags&reqDir != 0
	out.Refresh = flags&reqRefresh != 0
	out.Recursive = flags&reqRecursive != 0
	if flags&reqPrevExistSet != 0 {
		v := flags&reqPrevExist != 0
		out.PrevExist = &v
	}
	*r = out
	return nil
}

// reqDecoder reads fields from b, remembering the first error.
type reqDecoder struct {
	b   []byte
	err error
}

func (d *reqDecoder) fail(field string) {
	if d.err == nil {
		d.err = corrupt("request: truncated or invalid " + field)
	}
	d.b = nil
}

func (d *reqDecoder) byte(field string) byte {
	if len(d.b) < 1 {
		d.fail(field)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *reqDecoder) uvarint(field string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reqDecoder) varint(field string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reqDecoder) string(field string) string {
	n := d.uvarint(field)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(field)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

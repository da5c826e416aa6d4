package compat

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// compareMode says how much of a step's answers must agree.
type compareMode int

const (
	// full compares status, headers and the normalised body.
	full compareMode = iota
	// shapeOnly compares status, Content-Type and the body's field names
	// and types, for answers whose values are the server's own (stats,
	// versions).
	shapeOnly
	// statusOnly compares status and Content-Type, for endpoints whose
	// body differs on purpose.
	statusOnly
)

// step is one request sent to both servers, or the collection of a watch
// started earlier.
type step struct {
	name   string // unique in its sequence; knownDifferences use "sequence/name"
	method string // GET when empty
	// path is the URL path and query. {idx:N} becomes the server's own
	// index for the sequence's index N (1 = the first write), {key:N} the
	// same as a 20-digit in-order key name.
	path string
	form string // urlencoded body, sent as a form when not empty
	// ctype replaces the form's Content-Type; "none" sends no Content-Type.
	ctype string
	sleep time.Duration // wait before sending; only for TTL expiry
	// async starts the request and returns once both servers sent their
	// response headers, which are compared at once; the body is read and
	// compared by a later step with await set to the same label.
	async string
	await string
	// events makes an await read that many newline-terminated events from a
	// stream=true watch and then hang up.
	events     int
	compare    compareMode
	allowExtra []string // shapeOnly: field paths only arbor has, on purpose
	// deliberate, when set, may name a deliberate difference that etcd's
	// answer shows (for steps generated without knowing the outcome); the
	// step is then logged with that reason instead of compared.
	deliberate func(ref *exchange) string
}

// sequence is an ordered list of steps; its first write anchors the
// index normalisation on each server.
type sequence struct {
	name  string
	steps []step
}

// exchange is one server's answer to one step.
type exchange struct {
	status int
	header http.Header
	body   []byte
	events [][]byte
	at     time.Time // when the answer (or its last event) arrived
	err    error

	resp   *http.Response // async: open until awaited
	cancel context.CancelFunc
}

// seqState is a server's view of a running sequence.
type seqState struct {
	s      *server
	offset int64 // index of the sequence's first write, minus 1; 0 until then
	based  bool
	sorted bool // the current request asked for sorted=true
	// prevIndex says the current request carries prevIndex, so a 101
	// error's cause ends with "[<prevIndex> != <current index>]".
	prevIndex bool
	// prevIndexTemplate says that prevIndex was written {idx:N}, so the
	// cause's first number is this server's own index too.
	prevIndexTemplate bool
}

func (st *seqState) serverIndex(n int64) int64 { return n + st.offset }

func (st *seqState) normIndex(v int64) int64 {
	// Request errors carry index 0 on etcd; that 0 means "no index", not
	// an index before the sequence.
	if v == 0 {
		return 0
	}
	return v - st.offset
}

var (
	templateRE = regexp.MustCompile(`\{(idx|key):(\d+)\}`)
	// indexCauseRE is the index half of a 101 cause.
	indexCauseRE = regexp.MustCompile(`\[([^\]]*) != (\d+)\]$`)
	inOrderRE    = regexp.MustCompile(`(^|/)(\d{20})(/|$)`)
)

func (st *seqState) expand(path string) string {
	return templateRE.ReplaceAllStringFunc(path, func(m string) string {
		sub := templateRE.FindStringSubmatch(m)
		n, _ := strconv.ParseInt(sub[2], 10, 64)
		if sub[1] == "idx" {
			return strconv.FormatInt(st.serverIndex(n), 10)
		}
		return fmt.Sprintf("%020d", st.serverIndex(n))
	})
}

var verbose = os.Getenv("COMPAT_VERBOSE") != ""

// run replays seq against both servers of p, comparing every step.
func (p *pair) run(t *testing.T, seq sequence) {
	t.Helper()
	ref := &seqState{s: p.ref}
	sut := &seqState{s: p.sut}
	pending := map[string]watchPair{}
	defer func() {
		for _, w := range pending {
			w.ref.close()
			w.sut.close()
		}
	}()
	seen := map[string]bool{}
	for _, st := range seq.steps {
		id := seq.name + "/" + st.name
		if seen[id] {
			t.Fatalf("step %s appears twice", id)
		}
		seen[id] = true
		markSeen(id)
		if st.sleep > 0 {
			time.Sleep(st.sleep)
		}
		var a, b *exchange
		switch {
		case st.await != "":
			w, ok := pending[st.await]
			if !ok {
				t.Fatalf("%s: no pending watch %q", id, st.await)
			}
			delete(pending, st.await)
			a, b = w.ref, w.sut
			ref.setRequest(w.start)
			sut.setRequest(w.start)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); a.finish(st.events) }()
			go func() { defer wg.Done(); b.finish(st.events) }()
			wg.Wait()
		case st.async != "":
			ref.setRequest(st)
			sut.setRequest(st)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); a = ref.send(st, true) }()
			go func() { defer wg.Done(); b = sut.send(st, true) }()
			wg.Wait()
			pending[st.async] = watchPair{start: st, ref: a, sut: b}
		default:
			ref.setRequest(st)
			sut.setRequest(st)
			a = ref.send(st, false)
			b = sut.send(st, false)
		}
		if a.err != nil || b.err != nil {
			t.Fatalf("%s: etcd: %v; arbor: %v", id, a.err, b.err)
		}
		if verbose {
			t.Logf("%s %s %s form=%q\n  etcd:  %d %v\n         %s\n  arbor: %d %v\n         %s",
				id, method(st), st.path, st.form, a.status, relevantHeaders(a.header), a.shown(), b.status, relevantHeaders(b.header), b.shown())
		}
		if isWrite(st) && !ref.based {
			if err := ref.anchor(a); err != nil {
				t.Fatalf("%s: etcd: %v", id, err)
			}
			if err := sut.anchor(b); err != nil {
				t.Fatalf("%s: arbor: %v", id, err)
			}
		}
		if st.deliberate != nil {
			if why := st.deliberate(a); why != "" {
				t.Logf("%s: not compared, deliberate difference: %s", id, why)
				continue
			}
		}
		for _, m := range compareExchange(st, ref, sut, a, b) {
			if k, reason, ok := lookupKnown(id, m.aspect); ok {
				t.Logf("known difference %s [%s] matches {%q, %q}: %s\n%s", id, m.aspect, k.step, k.aspect, reason, m.detail)
				continue
			}
			t.Errorf("%s %s %s: %s differs:\n%s", id, method(st), st.path, m.aspect, m.detail)
		}
	}
	if len(pending) > 0 {
		t.Errorf("%s: watches started but never awaited: %v", seq.name, mapKeys(pending))
	}
}

// watchPair is a watch started on both servers and not yet collected.
type watchPair struct {
	start    step
	ref, sut *exchange
}

// setRequest notes what of the request st the normalisation depends on.
func (st *seqState) setRequest(s step) {
	st.sorted = isSorted(s.path)
	st.prevIndex = strings.Contains(s.path, "prevIndex=") || strings.Contains(s.form, "prevIndex=")
	st.prevIndexTemplate = strings.Contains(s.path, "prevIndex={idx:") || strings.Contains(s.form, "prevIndex={idx:")
}

func mapKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func method(st step) string {
	switch {
	case st.await != "":
		return "AWAIT"
	case st.method == "":
		return http.MethodGet
	}
	return st.method
}

// isWrite says whether st is a keys write, the kind that anchors a
// sequence's indexes.
func isWrite(st step) bool {
	if !strings.HasPrefix(st.path, "/v2/keys") {
		return false
	}
	switch method(st) {
	case http.MethodPut, http.MethodPost, http.MethodDelete:
		return true
	}
	return false
}

func isSorted(path string) bool {
	u, err := url.Parse(path)
	if err != nil {
		return false
	}
	v, err := strconv.ParseBool(u.Query().Get("sorted"))
	return err == nil && v
}

// anchor takes the index the server reported for the sequence's first
// write as index 1 of the sequence.
func (st *seqState) anchor(ex *exchange) error {
	if ex.status/100 != 2 {
		return fmt.Errorf("the sequence's first write must succeed, got %d %s", ex.status, ex.body)
	}
	idx, err := strconv.ParseInt(ex.header.Get("X-Etcd-Index"), 10, 64)
	if err != nil {
		return fmt.Errorf("first write: bad X-Etcd-Index %q", ex.header.Get("X-Etcd-Index"))
	}
	st.offset, st.based = idx-1, true
	return nil
}

// send issues st to the server. An async send returns once the response
// headers are in and leaves the body open.
func (st *seqState) send(s step, async bool) *exchange {
	ex := &exchange{}
	var body io.Reader
	if s.form != "" {
		body = strings.NewReader(st.expand(s.form))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ex.cancel = cancel
	req, err := http.NewRequestWithContext(ctx, method(s), st.s.clientURL+st.expand(s.path), body)
	if err != nil {
		ex.err = err
		cancel()
		return ex
	}
	switch {
	case s.ctype == "none":
	case s.ctype != "":
		req.Header.Set("Content-Type", s.ctype)
	case s.form != "":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	timer := time.AfterFunc(10*time.Second, cancel)
	resp, err := st.s.client.Do(req)
	timer.Stop()
	if err != nil {
		ex.err = fmt.Errorf("%s %s: %w", method(s), s.path, err)
		cancel()
		return ex
	}
	ex.status, ex.header, ex.at = resp.StatusCode, resp.Header, time.Now()
	if async {
		ex.resp = resp
		return ex
	}
	defer resp.Body.Close()
	defer cancel()
	timer = time.AfterFunc(10*time.Second, cancel)
	ex.body, ex.err = io.ReadAll(resp.Body)
	timer.Stop()
	ex.at = time.Now()
	return ex
}

// finish reads an async answer: the whole body, or n events of a stream.
// A watch that does not fire within 10 s is an error, not a hang.
func (ex *exchange) finish(n int) {
	if ex.resp == nil {
		return
	}
	timer := time.AfterFunc(10*time.Second, ex.cancel)
	defer timer.Stop()
	defer ex.close()
	if n == 0 {
		ex.body, ex.err = io.ReadAll(ex.resp.Body)
		if errors.Is(ex.err, context.Canceled) {
			ex.err = errors.New("watch did not answer within 10s")
		}
		ex.at = time.Now()
		return
	}
	r := bufio.NewReader(ex.resp.Body)
	for range n {
		line, err := r.ReadBytes('\n')
		if err != nil {
			ex.err = fmt.Errorf("stream event %d of %d: %w (got %q)", len(ex.events)+1, n, err, line)
			return
		}
		ex.events = append(ex.events, line)
	}
	ex.at = time.Now()
}

func (ex *exchange) close() {
	if ex.resp != nil {
		ex.cancel()
		ex.resp.Body.Close()
		ex.resp = nil
	}
}

func (ex *exchange) shown() string {
	if ex.events != nil {
		var parts []string
		for _, e := range ex.events {
			parts = append(parts, strings.TrimSuffix(string(e), "\n"))
		}
		return strings.Join(parts, "\n         ")
	}
	return strings.TrimSuffix(string(ex.body), "\n")
}

func relevantHeaders(h http.Header) string {
	var parts []string
	for _, k := range []string{"Content-Type", "X-Etcd-Index", "X-Raft-Index", "X-Raft-Term", "X-Etcd-Cluster-Id", "Allow", "Location"} {
		if v, ok := h[http.CanonicalHeaderKey(k)]; ok {
			parts = append(parts, k+": "+strings.Join(v, ","))
		}
	}
	return strings.Join(parts, "; ")
}

// mismatch is one way two answers differ.
type mismatch struct {
	aspect string // "status", "header X", "body", "field order", "shape"
	detail string
}

func differ(aspect, ref, sut string) mismatch {
	return mismatch{aspect, fmt.Sprintf("  etcd:  %s\n  arbor: %s", ref, sut)}
}

// compareExchange lists the differences between etcd's answer a and
// arbor's answer b to st. Awaits compare bodies only: their status and
// headers were compared when the watch started.
func compareExchange(st step, ref, sut *seqState, a, b *exchange) []mismatch {
	var ms []mismatch
	if st.await == "" {
		ms = append(ms, compareHead(st, ref, sut, a, b)...)
	}
	if st.async != "" || st.compare == statusOnly {
		return ms
	}
	if st.await != "" && st.events > 0 {
		for i := range max(len(a.events), len(b.events)) {
			var ea, eb []byte
			if i < len(a.events) {
				ea = a.events[i]
			}
			if i < len(b.events) {
				eb = b.events[i]
			}
			for _, m := range compareBody(st, ref, sut, ea, eb, a.at, b.at) {
				m.detail = fmt.Sprintf("  (event %d)\n%s", i+1, m.detail)
				ms = append(ms, m)
			}
		}
		return ms
	}
	return append(ms, compareBody(st, ref, sut, a.body, b.body, a.at, b.at)...)
}

func compareHead(st step, ref, sut *seqState, a, b *exchange) []mismatch {
	var ms []mismatch
	if a.status != b.status {
		ms = append(ms, differ("status", strconv.Itoa(a.status), strconv.Itoa(b.status)))
	}
	if ca, cb := a.header.Get("Content-Type"), b.header.Get("Content-Type"); ca != cb {
		ms = append(ms, differ("header Content-Type", ca, cb))
	}
	if st.compare == statusOnly {
		return ms
	}
	for _, h := range []string{"X-Etcd-Index", "X-Raft-Index", "X-Raft-Term", "X-Etcd-Cluster-Id"} {
		va, oka := a.header[h]
		vb, okb := b.header[h]
		if oka != okb {
			ms = append(ms, differ("header "+h, presence(oka, va), presence(okb, vb)))
			continue
		}
		if h == "X-Etcd-Index" && oka && st.compare == full {
			na, nb := ref.normHeaderIndex(a.header.Get(h)), sut.normHeaderIndex(b.header.Get(h))
			if na != nb {
				ms = append(ms, differ("header "+h, na+" (raw "+a.header.Get(h)+")", nb+" (raw "+b.header.Get(h)+")"))
			}
		}
	}
	if aa, ab := sortedList(a.header.Get("Allow")), sortedList(b.header.Get("Allow")); aa != ab {
		ms = append(ms, differ("header Allow", aa, ab))
	}
	la := strings.TrimPrefix(a.header.Get("Location"), ref.s.clientURL)
	lb := strings.TrimPrefix(b.header.Get("Location"), sut.s.clientURL)
	if la != lb {
		ms = append(ms, differ("header Location", la, lb))
	}
	return ms
}

func presence(ok bool, v []string) string {
	if !ok {
		return "(absent)"
	}
	return "present: " + strings.Join(v, ",")
}

func sortedList(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (st *seqState) normHeaderIndex(v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return v
	}
	return strconv.FormatInt(st.normIndex(n), 10)
}

// compareBody compares two bodies: as JSON when both parse, else as text
// with each server's own URLs masked.
func compareBody(st step, ref, sut *seqState, ba, bb []byte, atA, atB time.Time) []mismatch {
	ja, errA := parseOrdered(ba)
	jb, errB := parseOrdered(bb)
	if errA != nil || errB != nil {
		ta, tb := ref.maskText(string(ba)), sut.maskText(string(bb))
		if errA == nil || errB == nil || ta != tb {
			return []mismatch{differ("body", strconv.Quote(string(ba)), strconv.Quote(string(bb)))}
		}
		return nil
	}
	var ms []mismatch
	// etcd ends every JSON body with the encoder's newline; clients that
	// read line by line (streams) depend on it.
	if ea, eb := strings.HasSuffix(string(ba), "\n"), strings.HasSuffix(string(bb), "\n"); ea != eb {
		ms = append(ms, differ("trailing newline", strconv.FormatBool(ea), strconv.FormatBool(eb)))
	}
	if st.compare == shapeOnly {
		sa, sb := shape(ja), shape(jb)
		for _, f := range st.allowExtra {
			if _, ok := sa[f]; !ok {
				delete(sb, f)
			}
		}
		if d := diffMaps(sa, sb); d != "" {
			ms = append(ms, mismatch{"shape", d})
		}
		return ms
	}
	na := ref.normalize(ja, atA)
	nb := sut.normalize(jb, atB)
	reconcileTTL(na, nb)
	if ca, cb := canonical(na), canonical(nb); ca != cb {
		ms = append(ms, differ("body", ca, cb))
	}
	if d := diffMaps(fieldOrders(ja, ref.normInOrder), fieldOrders(jb, sut.normInOrder)); d != "" {
		ms = append(ms, mismatch{"field order", d})
	}
	// Parsing forgets how strings were escaped. etcd's body is what
	// encoding/json writes; arbor's must be too.
	ra, rb := strings.TrimSuffix(string(ba), "\n"), strings.TrimSuffix(string(bb), "\n")
	if wa, wb := wire(ja), wire(jb); wa == ra && wb != rb {
		ms = append(ms, mismatch{"raw encoding", firstDifference(wb, rb)})
	}
	return ms
}

// firstDifference shows where arbor's raw body departs from its
// encoding/json form.
func firstDifference(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-40)
	return fmt.Sprintf("  at byte %d:\n  encoding/json: %q\n  arbor:         %q", i, want[lo:min(len(want), i+40)], got[lo:min(len(got), i+40)])
}

func diffMaps(a, b map[string]string) string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var lines []string
	for k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		switch {
		case !okb:
			lines = append(lines, fmt.Sprintf("  %s: etcd %q, arbor (absent)", k, va))
		case !oka:
			lines = append(lines, fmt.Sprintf("  %s: etcd (absent), arbor %q", k, vb))
		case va != vb:
			lines = append(lines, fmt.Sprintf("  %s: etcd %q, arbor %q", k, va, vb))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (st *seqState) maskText(s string) string {
	s = strings.ReplaceAll(s, st.s.clientURL, "<client-url>")
	return strings.ReplaceAll(s, st.s.peerURL, "<peer-url>")
}

// normalize returns a copy of v with server-specific values replaced: see
// the package doc.
func (st *seqState) normalize(v any, at time.Time) any {
	switch x := v.(type) {
	case *object:
		o := &object{keys: x.keys, m: map[string]any{}}
		for k, c := range x.m {
			o.m[k] = st.normalizeField(k, c, at)
		}
		return o
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = st.normalize(e, at)
		}
		return out
	case string:
		switch x {
		case st.s.clientURL:
			return "<client-url>"
		case st.s.peerURL:
			return "<peer-url>"
		}
	}
	return v
}

func (st *seqState) normalizeField(k string, v any, at time.Time) any {
	switch k {
	case "createdIndex", "modifiedIndex", "index":
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return json.Number(strconv.FormatInt(st.normIndex(i), 10))
			}
		}
	case "key":
		if s, ok := v.(string); ok {
			return st.normInOrder(s)
		}
	case "cause":
		if s, ok := v.(string); ok {
			if st.prevIndex {
				s = st.normIndexCause(s)
			}
			return st.normInOrder(s)
		}
	case "expiration":
		if s, ok := v.(string); ok {
			e, err := time.Parse(time.RFC3339Nano, s)
			switch {
			case err != nil:
				return "<expiration unparsable: " + s + ">"
			case e.After(at):
				return "<expiration in the future>"
			default:
				return "<expiration in the past>"
			}
		}
	case "id":
		if _, ok := v.(string); ok {
			return "<id>"
		}
	case "nodes":
		arr, ok := st.normalize(v, at).([]any)
		if ok && !st.sorted {
			sort.SliceStable(arr, func(i, j int) bool { return nodeKey(arr[i]) < nodeKey(arr[j]) })
		}
		if ok {
			return arr
		}
	}
	return st.normalize(v, at)
}

// normInOrder rewrites 20-digit in-order key names, which are the
// server's index at creation, to the sequence's numbering.
func (st *seqState) normInOrder(s string) string {
	return inOrderRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := inOrderRE.FindStringSubmatch(m)
		n, _ := strconv.ParseInt(sub[2], 10, 64)
		return sub[1] + fmt.Sprintf("%020d", st.normIndex(n)) + sub[3]
	})
}

// normIndexCause rewrites the current index in the "[prevIndex != index]"
// part of a 101 cause, and the requested prevIndex when it was written
// {idx:N}; a literal one stays as sent.
func (st *seqState) normIndexCause(s string) string {
	m := indexCauseRE.FindStringSubmatchIndex(s)
	if m == nil {
		return s
	}
	n, err := strconv.ParseInt(s[m[4]:m[5]], 10, 64)
	if err != nil {
		return s
	}
	sent := s[m[2]:m[3]]
	if st.prevIndexTemplate {
		if p, err := strconv.ParseInt(sent, 10, 64); err == nil {
			sent = strconv.FormatInt(st.normIndex(p), 10)
		}
	}
	return s[:m[2]] + sent + s[m[3]:m[4]] + strconv.FormatInt(st.normIndex(n), 10) + s[m[5]:]
}

func nodeKey(v any) string {
	if o, ok := v.(*object); ok {
		if k, ok := o.m["key"].(string); ok {
			return k
		}
	}
	return ""
}

// reconcileTTL lets arbor's "ttl" differ from etcd's by one second: the
// two servers round the remaining time at slightly different moments.
func reconcileTTL(a, b any) {
	switch x := a.(type) {
	case *object:
		y, ok := b.(*object)
		if !ok {
			return
		}
		ta, okA := x.m["ttl"].(json.Number)
		tb, okB := y.m["ttl"].(json.Number)
		if okA && okB {
			ia, errA := ta.Int64()
			ib, errB := tb.Int64()
			if errA == nil && errB == nil && ia-ib >= -1 && ia-ib <= 1 {
				y.m["ttl"] = ta
			}
		}
		for k, c := range x.m {
			if d, ok := y.m[k]; ok {
				reconcileTTL(c, d)
			}
		}
	case []any:
		y, ok := b.([]any)
		if !ok {
			return
		}
		for i := range min(len(x), len(y)) {
			reconcileTTL(x[i], y[i])
		}
	}
}

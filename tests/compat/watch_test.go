package compat

import (
	"testing"
	"time"
)

func watch(name, label, path string) step { return step{name: name, path: path, async: label} }

func await(name, label string) step { return step{name: name, await: label} }

func awaitEvents(name, label string, n int) step { return step{name: name, await: label, events: n} }

// TestWatch compares long polls and streams: the headers sent when the
// watch starts and the events that answer it.
func TestWatch(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	p.run(t, sequence{name: "watch", steps: []step{
		put("put-a", "/v2/keys/w/a", "value=0"),
		// A long poll answered by a later write.
		watch("watch-a", "a", "/v2/keys/w/a?wait=true"),
		put("set-a", "/v2/keys/w/a", "value=1"),
		await("event-a", "a"),
		// waitIndex in the past answers from the event history.
		get("history-1", "/v2/keys/w/a?wait=true&waitIndex={idx:1}"),
		get("history-2", "/v2/keys/w/a?wait=true&waitIndex={idx:2}"),
		// A recursive watch sees a change below it.
		watch("watch-recursive", "rec", "/v2/keys/w?wait=true&recursive=true"),
		put("set-child", "/v2/keys/w/sub/c", "value=x"),
		await("event-recursive", "rec"),
		// A watch on a key whose parent dir is deleted hears the delete.
		put("put-in-dir", "/v2/keys/w/dir/k", "value=1"),
		watch("watch-in-dir", "indir", "/v2/keys/w/dir/k?wait=true"),
		del("delete-dir", "/v2/keys/w/dir?recursive=true"),
		await("event-parent-deleted", "indir"),
		// A non-recursive watch on a dir ignores its children and fires on
		// the dir itself.
		watch("watch-dir-plain", "plain", "/v2/keys/w?wait=true"),
		put("set-other-child", "/v2/keys/w/z", "value=1"),
		del("delete-w", "/v2/keys/w?recursive=true"),
		await("event-dir-itself", "plain"),
		// A stream delivers one event per line.
		watch("watch-stream", "stream", "/v2/keys/ws?wait=true&stream=true&recursive=true"),
		put("stream-1", "/v2/keys/ws/1", "value=a"),
		put("stream-2", "/v2/keys/ws/2", "value=b"),
		del("stream-3", "/v2/keys/ws/1"),
		awaitEvents("stream-events", "stream", 3),
		// A stream from the past starts with the first event of the
		// history. Only that one is compared: etcd 3.4 then goes silent,
		// while arbor goes on with the rest, on purpose (internal/store's
		// doc, "Where it differs from etcd 3.4 on purpose").
		watch("watch-stream-history", "streamhist", "/v2/keys/ws?wait=true&stream=true&recursive=true&waitIndex={idx:8}"),
		awaitEvents("stream-history-first-event", "streamhist", 1),
		get("history-recursive", "/v2/keys/ws?wait=true&recursive=true&waitIndex={idx:9}"),
		// Hidden children are not seen by a recursive watch on the parent,
		// but a watch on the hidden key itself fires.
		watch("watch-not-hidden", "nothidden", "/v2/keys/wh?wait=true&recursive=true"),
		put("set-hidden", "/v2/keys/wh/_h", "value=1"),
		put("set-visible", "/v2/keys/wh/v", "value=2"),
		await("event-visible", "nothidden"),
		watch("watch-hidden", "hidden", "/v2/keys/wh/_h?wait=true"),
		put("set-hidden-again", "/v2/keys/wh/_h", "value=3"),
		await("event-hidden", "hidden"),
		// waitIndex in the future waits for that index.
		watch("watch-future", "future", "/v2/keys/w2/a?wait=true&waitIndex={idx:15}"),
		put("future-14", "/v2/keys/w2/a", "value=1"),
		put("future-15", "/v2/keys/w2/a", "value=2"),
		await("event-future", "future"),
		// Compare-and-swap and compare-and-delete events.
		watch("watch-cas", "cas", "/v2/keys/w2/a?wait=true"),
		put("cas", "/v2/keys/w2/a?prevValue=2", "value=3"),
		await("event-cas", "cas"),
		watch("watch-cad", "cad", "/v2/keys/w2/a?wait=true"),
		del("cad", "/v2/keys/w2/a?prevValue=3"),
		await("event-cad", "cad"),
		// Errors when the watch cannot start.
		get("watch-waitIndex-nan", "/v2/keys/w2/a?wait=true&waitIndex=abc"),
		// The history also holds the parent dir's delete for a key inside.
		get("history-parent-deleted", "/v2/keys/w/dir/k?wait=true&waitIndex={idx:5}"),
	}})
}

// TestTTLExpiry compares what happens when keys and dirs expire: reads
// get 404 and waiting watchers get "expire" events.
func TestTTLExpiry(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	// ttl=0 expires at the next expiry tick. Its own sequence, so that
	// tick cannot interleave with the writes of the next one.
	p.run(t, sequence{name: "expiry-zero", steps: []step{
		put("ttl-zero", "/v2/keys/tz/z?ttl=0", "value=0"),
		watch("watch-zero", "zero", "/v2/keys/tz/z?wait=true&waitIndex={idx:2}"),
		await("event-zero-expire", "zero"),
		get("get-expired-zero", "/v2/keys/tz/z"),
	}})
	gone := get("get-expired-a", "/v2/keys/t/a")
	// etcd expires keys on its 500 ms sync tick, so a one-second TTL is
	// over by 1.5 s; the rest is slack for a loaded machine.
	gone.sleep = 2500 * time.Millisecond
	p.run(t, sequence{name: "expiry", steps: []step{
		// The write without a TTL comes first, so that a slow machine cannot
		// expire anything before all the writes are in.
		put("keep", "/v2/keys/t/keep", "value=k"),
		put("ttl-a", "/v2/keys/t/a?ttl=1", "value=x"),
		put("ttl-b", "/v2/keys/t/b?ttl=1", "value=y"),
		put("ttl-dir", "/v2/keys/t/d?dir=true&ttl=1", ""),
		put("in-ttl-dir", "/v2/keys/t/d/k", "value=z"),
		watch("watch-a", "a", "/v2/keys/t/a?wait=true"),
		watch("watch-in-dir", "indir", "/v2/keys/t/d/k?wait=true"),
		watch("watch-all", "all", "/v2/keys/t?wait=true&recursive=true&waitIndex={idx:6}"),
		gone,
		get("get-expired-b", "/v2/keys/t/b"),
		get("get-expired-in-dir", "/v2/keys/t/d/k"),
		get("get-expired-dir", "/v2/keys/t/d"),
		await("event-expire-a", "a"),
		await("event-expire-dir", "indir"),
		await("event-first-expire", "all"),
		get("history-expire-b", "/v2/keys/t?wait=true&recursive=true&waitIndex={idx:7}"),
		get("history-expire-dir", "/v2/keys/t?wait=true&recursive=true&waitIndex={idx:8}"),
		get("list-after", "/v2/keys/t?recursive=true&sorted=true"),
	}})
}

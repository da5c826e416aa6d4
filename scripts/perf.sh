#!/usr/bin/env bash
# perf.sh: run the same load matrix against a single-member arbor and a
# single-member etcd 3.4 (--enable-v2=true) on this machine, one after the
# other, and print a Markdown table of the figures with arbor/etcd ratios.
#
# Usage:
#   scripts/perf.sh                          # both servers, 10 s per case
#   DURATION=3s ONLY=etcd scripts/perf.sh    # quick run against etcd only
#   FULL=1 scripts/perf.sh                   # adds the 1,000,000-key fill (minutes)
#
# Matrix, per server (arbor-bench modes; see cmd/arbor-bench):
#   put at 1, 16, 64 and 256 clients (random keys of 100,000, 256 B values)
#   get at 64 clients, then get -quorum at 64 clients (key space preloaded)
#   watch: WATCHERS stream watchers, then WATCHERS long-poll watchers, on
#          /watch while one writer sends WATCH_RATE writes/s
#   then, as a reference, the same put and get cases against arbor-bench's
#          null-server (label "http-floor"): net/http parsing the request
#          and answering an etcd-shaped body, no store, no log; etcd's
#          floor, not arbor's, whose key requests skip net/http
#          (internal/httplane) (FLOOR=0 skips it)
#   FULL=1 only: on a fresh data dir, fill FILL_KEYS keys of 256 B (64
#          clients), the server's RSS after the fill, then stop the server,
#          start it again on the same data and time until it answers a GET
#          of a filled key, and its RSS then.
#
# Environment:
#   DURATION        length of each put/get/watch case (default 10s)
#   ONLY            arbor, etcd or both (default both)
#   FULL            1 to add the fill/RSS/restart cases (default 0)
#   FLOOR           0 to skip the http-floor cases (default 1)
#   BASE_PORT       first port to try; free ports at or above it (below
#                   BASE_PORT+1000) are used, all on 127.0.0.1 (default 43000)
#   ETCD_BIN        the etcd binary (default /usr/bin/etcd, else etcd in PATH)
#   FILL_KEYS       keys written by the fill (default 1000000)
#   WATCHERS        watchers per watch case (default 1000)
#   WATCH_RATE      writes/s during the watch cases (default 200)
#   SNAPSHOT_COUNT  passed to arbor as -snapshot-count when set (default:
#                   arbor's own default; etcd keeps its own too)
#   KEEP            1 to keep the data dirs and server logs
#
# Output: perf-results/<timestamp>.jsonl holds one JSON line per case and
# server (arbor-bench's result line, labelled "arbor" or "etcd", plus lines
# of mode "restart" written here and one "meta" line); the Markdown table is
# printed and saved next to it as <timestamp>.md. Re-print a table any time
# with: bin/arbor-bench table perf-results/<timestamp>.jsonl
#
# If ./cmd/arbor does not build, the script says so and runs the etcd half
# alone (as with ONLY=etcd). It starts every server itself, on fresh temp
# data dirs, and on exit stops only the processes it started (by PID).
# Client and server share the machine: compare figures from the same run.
# Helpers shared with scripts/perf-cluster.sh live in scripts/perf-lib.sh.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/perf-lib.sh
source scripts/perf-lib.sh

DURATION=${DURATION:-10s}
ONLY=${ONLY:-both}
FULL=${FULL:-0}
FLOOR=${FLOOR:-1}
BASE_PORT=${BASE_PORT:-43000}
FILL_KEYS=${FILL_KEYS:-1000000}
WATCHERS=${WATCHERS:-1000}
WATCH_RATE=${WATCH_RATE:-200}
SNAPSHOT_COUNT=${SNAPSHOT_COUNT:-}
KEEP=${KEEP:-0}
ETCD_BIN=${ETCD_BIN:-$(default_etcd_bin)}
check_only

OUT_DIR=perf-results
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$OUT_DIR/$STAMP.jsonl
TABLE=$OUT_DIR/$STAMP.md
WORK=$(mktemp -d "${TMPDIR:-/tmp}/arbor-perf.XXXXXX")
BENCH=bin/arbor-bench
ARBOR=bin/arbor

PIDS=()        # every server process this script started and has not reaped
SERVER_PID=""  # the one running now
CLIENT_PORT="" # its client port
PEER_PORT=""   # and peer port
SERVER_LOG=""
ENDPOINTS=""   # its client URL

trap cleanup EXIT
trap 'exit 130' INT TERM

# Builds.
mkdir -p "$OUT_DIR"
build_binaries

# Many watchers mean many sockets on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# start_server LABEL DATADIR CPORT PPORT starts arbor or etcd in the
# background and sets SERVER_PID, CLIENT_PORT and SERVER_LOG.
start_server() {
	local label=$1 dir=$2 cport=$3 pport=$4
	mkdir -p "$dir"
	SERVER_LOG=$WORK/$label.log
	echo "--- start $(date +%T) on ports $cport/$pport" >>"$SERVER_LOG"
	if [[ $label == http-floor ]]; then
		"$BENCH" -listen "127.0.0.1:$cport" null-server >>"$SERVER_LOG" 2>&1 &
	elif [[ $label == arbor ]]; then
		local extra=()
		[[ -z $SNAPSHOT_COUNT ]] || extra=(-snapshot-count "$SNAPSHOT_COUNT")
		"$ARBOR" -name perf -data-dir "$dir" \
			-addr "127.0.0.1:$cport" -bind-addr "127.0.0.1:$cport" \
			-peer-addr "127.0.0.1:$pport" -peer-bind-addr "127.0.0.1:$pport" \
			"${extra[@]}" >>"$SERVER_LOG" 2>&1 &
	else
		"$ETCD_BIN" --enable-v2=true --name perf --data-dir "$dir" \
			--listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
			--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
			--initial-cluster "perf=http://127.0.0.1:$pport" >>"$SERVER_LOG" 2>&1 &
	fi
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	CLIENT_PORT=$cport
	PEER_PORT=$pport
	ENDPOINTS=http://127.0.0.1:$cport
}

LAUNCH_TOOK=""
# launch LABEL DATADIR PATH LIMIT [same] starts a server and waits until a
# GET of PATH answers (at most LIMIT seconds); LAUNCH_TOOK is how long that
# took from the start of the process. New free ports are picked unless
# "same" is given (a restart keeps the ports the data dir knows). A start
# that fails because a port is taken is retried.
launch() {
	local label=$1 dir=$2 path=$3 limit=$4 same=${5:-} attempt cport pport
	for attempt in 1 2 3 4 5; do
		if [[ $same == same ]]; then
			cport=$CLIENT_PORT pport=$PEER_PORT
		else
			next_free_port
			cport=$FREE_PORT
			next_free_port
			pport=$FREE_PORT
		fi
		start_server "$label" "$dir" "$cport" "$pport"
		if LAUNCH_TOOK=$(wait_get "http://127.0.0.1:$cport$path" "$limit"); then
			return 0
		fi
		stop_pid "$SERVER_PID"
		if ! tail -n 5 "$SERVER_LOG" | grep -q "address already in use"; then
			return 1
		fi
		log "[$label] a port was taken (attempt $attempt); retrying"
		sleep 1
	done
	return 1
}

# rss_kb prints VmRSS of a pid in KiB (0 when unknown).
rss_kb() {
	awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# run_server LABEL runs the whole matrix against one server.
run_server() {
	local label=$1 data=$WORK/$1-data
	if ! launch "$label" "$data" /v2/keys/ 60; then
		log "[$label] did not start; skipping it"
		return 0
	fi
	log "[$label] pid $SERVER_PID answering on port $CLIENT_PORT after $LAUNCH_TOOK s (log: $SERVER_LOG)"

	for c in 1 16 64 256; do
		run_case "$label" -clients "$c" -duration "$DURATION" put
	done
	run_case "$label" -clients 64 -duration "$DURATION" get
	run_case "$label" -clients 64 -duration "$DURATION" -quorum get
	for mode in stream longpoll; do
		run_case "$label" -watchers "$WATCHERS" -watch-mode "$mode" -rate "$WATCH_RATE" \
			-duration "$DURATION" -prefix /watch -keys 1000 watch
	done
	stop_pid "$SERVER_PID"

	if [[ $FULL == 1 ]]; then
		# A fresh data dir, so the restart replays the fill and nothing else.
		rm -rf "$data"
		if ! launch "$label" "$data" /v2/keys/ 60; then
			log "[$label] did not start for the fill; skipping it"
			return 0
		fi
		run_case "$label" -clients 64 -keys "$FILL_KEYS" -value-size 256 -prefix /fill \
			-check-rss-pid "$SERVER_PID" fill
		local last=$((FILL_KEYS - 1)) width
		width=${#last}
		((width >= 8)) || width=8
		local probe
		probe=/v2/keys/fill/$(printf "%0${width}d" 0)
		stop_pid "$SERVER_PID"
		log "[$label] restarting on the filled data dir"
		if launch "$label" "$data" "$probe" 900 same; then
			local rss
			rss=$(rss_kb "$SERVER_PID")
			log "[$label] answered GET $probe after $LAUNCH_TOOK s, RSS $rss KiB"
			printf '{"mode":"restart","case":"restart after fill n=%s","label":"%s","keys":%s,"restart_s":%s,"rss_kb":%s}\n' \
				"$FILL_KEYS" "$label" "$FILL_KEYS" "$LAUNCH_TOOK" "$rss" >>"$RESULTS"
		else
			log "[$label] restart failed"
		fi
		stop_pid "$SERVER_PID"
	fi
	rm -rf "$data"
}

{
	etcd_version=$([[ -n $ETCD_BIN ]] && "$ETCD_BIN" --version 2>/dev/null | awk '/^etcd Version/ { print $3 }' || true)
	printf '{"mode":"meta","date":"%s","git":"%s","etcd_version":"%s","nproc":%s,"duration":"%s","watchers":%s,"watch_rate":%s,"full":%s}\n' \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
		"${etcd_version:-none}" "$(nproc)" "$DURATION" "$WATCHERS" "$WATCH_RATE" "$FULL"
} >>"$RESULTS"

if ((RUN_ARBOR)); then run_server arbor; fi
if ((RUN_ETCD)); then run_server etcd; fi

# run_floor runs the put and get cases against the do-nothing HTTP server.
run_floor() {
	if ! launch http-floor "$WORK/floor" /v2/keys/x 30; then
		log "[http-floor] did not start; skipping it"
		return 0
	fi
	for c in 1 16 64 256; do
		run_case http-floor -clients "$c" -duration "$DURATION" put
	done
	run_case http-floor -clients 64 -duration "$DURATION" -no-preload get
	stop_pid "$SERVER_PID"
}
if [[ $FLOOR == 1 ]]; then run_floor; fi

echo
{
	echo "# arbor vs etcd, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "git $(git rev-parse --short HEAD 2>/dev/null || echo unknown), etcd ${etcd_version:-none}," \
		"$(nproc) CPUs (client and server on one machine), DURATION=$DURATION, FULL=$FULL"
	echo
	"$BENCH" table "$RESULTS"
} | tee "$TABLE"
log "results: $RESULTS, table: $TABLE"

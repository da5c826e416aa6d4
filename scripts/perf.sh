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
#   then, as the floor both are read against, the same put and get cases
#          against arbor-bench's null-server (label "http-floor"): net/http
#          parsing the request and answering an etcd-shaped body, no store,
#          no log (FLOOR=0 skips it)
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

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

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
if [[ -z ${ETCD_BIN:-} ]]; then
	if [[ -x /usr/bin/etcd ]]; then ETCD_BIN=/usr/bin/etcd; else ETCD_BIN=$(command -v etcd || true); fi
fi

case $ONLY in arbor | etcd | both) ;; *)
	echo "perf.sh: ONLY must be arbor, etcd or both, not '$ONLY'" >&2
	exit 2
	;;
esac

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

log() { echo "perf.sh: $*" >&2; }

# stop_pid sends SIGTERM to a process we started, waits up to 30 s for it to
# exit, then SIGKILLs it.
stop_pid() {
	local pid=$1 i
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "pid $pid ignored SIGTERM for 30 s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

cleanup() {
	local p
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	if [[ $KEEP == 1 ]]; then
		log "kept data dirs and logs in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# port_free succeeds when no socket on this machine uses port $1 locally.
# Listeners are not enough to look at: the port range given to this script
# lies inside the kernel's ephemeral range, so an outgoing connection (ours
# or anyone's) may hold the port too. start_server still retries on
# "address already in use", since a port can be taken between the check and
# the server's bind.
port_free() {
	if command -v ss >/dev/null 2>&1; then
		[[ -z $(ss -Htan "sport = :$1" 2>/dev/null) ]]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

PORT_CURSOR=$BASE_PORT
FREE_PORT=""
# next_free_port sets FREE_PORT to the next free port at or above the cursor.
next_free_port() {
	while ! port_free "$PORT_CURSOR"; do
		PORT_CURSOR=$((PORT_CURSOR + 1))
		if ((PORT_CURSOR >= BASE_PORT + 1000)); then
			log "no free port in $BASE_PORT..$((BASE_PORT + 999))"
			exit 1
		fi
	done
	FREE_PORT=$PORT_CURSOR
	PORT_CURSOR=$((PORT_CURSOR + 1))
}

# Builds.
mkdir -p bin "$OUT_DIR"
log "building $BENCH"
go build -o "$BENCH" ./cmd/arbor-bench
RUN_ARBOR=0
RUN_ETCD=0
[[ $ONLY == etcd ]] || RUN_ARBOR=1
[[ $ONLY == arbor ]] || RUN_ETCD=1
if ((RUN_ARBOR)); then
	log "building $ARBOR"
	if ! go build -o "$ARBOR" ./cmd/arbor 2>"$WORK/build.log"; then
		cat "$WORK/build.log" >&2
		if [[ $ONLY == arbor ]]; then
			log "./cmd/arbor does not build; nothing to run"
			exit 1
		fi
		log "./cmd/arbor does not build yet; running the etcd half only (as ONLY=etcd)"
		RUN_ARBOR=0
	fi
fi
if ((RUN_ETCD)) && [[ -z $ETCD_BIN || ! -x $ETCD_BIN ]]; then
	log "no etcd binary (set ETCD_BIN, or install etcd-server); skipping the etcd half"
	RUN_ETCD=0
fi
if ((!RUN_ARBOR && !RUN_ETCD)); then
	log "nothing to run"
	exit 1
fi

# Many watchers mean many sockets on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# now prints the time in seconds with microseconds.
now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }

# wait_get polls URL until it answers 200 or the server dies; prints the
# seconds it took. Gives up after $2 seconds.
wait_get() {
	local url=$1 limit=$2 t0 t
	t0=$(now)
	while true; do
		if curl -fs --noproxy '*' --max-time 2 -o /dev/null "$url"; then
			t=$(now)
			awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.3f\n", b - a }'
			return 0
		fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			log "server exited while waiting for $url; last lines of $SERVER_LOG:"
			tail -n 20 "$SERVER_LOG" | cut -c1-300 >&2
			return 1
		fi
		if awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
			log "$url did not answer within $limit s; last lines of $SERVER_LOG:"
			tail -n 20 "$SERVER_LOG" | cut -c1-300 >&2
			return 1
		fi
		sleep 0.02
	done
}

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

# run_case LABEL ARGS... runs one arbor-bench case against the running
# server and appends its JSON line to the results.
run_case() {
	local label=$1
	shift
	local out=$WORK/case.out
	echo
	log "[$label] arbor-bench $*"
	if "$BENCH" -endpoints "http://127.0.0.1:$CLIENT_PORT" -label "$label" "$@" | tee "$out"; then
		local line
		line=$(tail -n 1 "$out")
		if [[ $line == "{"* ]]; then
			echo "$line" >>"$RESULTS"
			return 0
		fi
	fi
	log "[$label] case failed: arbor-bench $*"
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

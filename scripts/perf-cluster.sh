#!/usr/bin/env bash
# perf-cluster.sh: run the same load matrix against a 3-member arbor cluster
# and a 3-member etcd 3.4 cluster (--enable-v2=true), one after the other on
# this machine, with the load spread over the three members, and print a
# Markdown table of the figures with arbor/etcd ratios.
#
# Usage:
#   scripts/perf-cluster.sh                          # both clusters, 10 s per case
#   DURATION=2s WATCHERS=50 scripts/perf-cluster.sh  # a quick smoke run
#   ONLY=arbor scripts/perf-cluster.sh               # the arbor cluster only
#
# Clusters (every member on 127.0.0.1, on free ports, each on a fresh data dir):
#   arbor-3  members a, b, c: a starts a new cluster, b joins with -peers a,
#            c with -peers a,b (each started once the previous is healthy)
#   etcd-3   members e1, e2, e3 started together with a static
#            --initial-cluster and --initial-cluster-state new
# A cluster is used once every member answers /health with "true" and its
# /v2/members lists three members with client URLs.
#
# Matrix, per cluster (arbor-bench modes; see cmd/arbor-bench), every case
# with -endpoints naming the three members (clients and watchers are spread
# over them round-robin; the watch writer too):
#   put at 64 and 256 clients (random keys of 100,000, 256 B values)
#   get -quorum at 64 clients (key space preloaded)
#   watch: WATCHERS stream watchers, then WATCHERS long-poll watchers, on
#          /watch while one writer sends WATCH_RATE writes/s
#
# Environment (as in scripts/perf.sh where they apply):
#   DURATION        length of each case (default 10s)
#   ONLY            arbor, etcd or both (default both)
#   BASE_PORT       first port to try; free ports at or above it (below
#                   BASE_PORT+1000) are used, all on 127.0.0.1 (default 43000)
#   ETCD_BIN        the etcd binary (default /usr/bin/etcd, else etcd in PATH)
#   WATCHERS        watchers per watch case (default 1000)
#   WATCH_RATE      writes/s during the watch cases (default 200)
#   SNAPSHOT_COUNT  passed to every arbor member as -snapshot-count when set
#   HEARTBEAT_MS    Raft heartbeat interval of both clusters (default 100,
#                   etcd 3.4's default; arbor's own default is etcd 0.4's 50)
#   ELECTION_MS     Raft election timeout of both clusters (default 1000,
#                   etcd 3.4's; arbor's own is etcd 0.4's 200). Both clusters
#                   run with the same timing: with 200 ms, three members and
#                   the load tool starving for two cores lose their leader
#                   now and then, which measures the machine, not the code.
#   KEEP            1 to keep the data dirs and member logs
#
# Output: perf-results/<timestamp>-cluster3.jsonl holds one JSON line per
# case and cluster (arbor-bench's result line, labelled "arbor-3" or
# "etcd-3", plus one "meta" line); the Markdown table is printed and saved
# next to it as <timestamp>-cluster3.md. Re-print a table any time with:
# bin/arbor-bench table perf-results/<timestamp>-cluster3.jsonl
#
# It starts every member itself and on exit stops only the processes it
# started (by PID). Clients and all six servers share the machine: compare
# figures from the same run.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/perf-lib.sh
source scripts/perf-lib.sh

DURATION=${DURATION:-10s}
ONLY=${ONLY:-both}
BASE_PORT=${BASE_PORT:-43000}
WATCHERS=${WATCHERS:-1000}
WATCH_RATE=${WATCH_RATE:-200}
SNAPSHOT_COUNT=${SNAPSHOT_COUNT:-}
HEARTBEAT_MS=${HEARTBEAT_MS:-100}
ELECTION_MS=${ELECTION_MS:-1000}
KEEP=${KEEP:-0}
ETCD_BIN=${ETCD_BIN:-$(default_etcd_bin)}
check_only

OUT_DIR=perf-results
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$OUT_DIR/$STAMP-cluster3.jsonl
TABLE=$OUT_DIR/$STAMP-cluster3.md
WORK=$(mktemp -d "${TMPDIR:-/tmp}/arbor-perf-cluster.XXXXXX")
BENCH=bin/arbor-bench
ARBOR=bin/arbor

PIDS=()         # every server process this script started and has not reaped
SERVER_PID=""   # the member wait_get is polling
SERVER_LOG=""   # and its log
ENDPOINTS=""    # client URLs of the running cluster, comma-separated
MEMBER_PIDS=()  # the running cluster's members, in start order
MEMBER_LOGS=()
MEMBER_URLS=()  # their client URLs

trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT_DIR"
build_binaries

# Many watchers mean many sockets on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# is_healthy reads a /health body and succeeds when it says "true" (arbor
# and etcd 3.4 both answer {"health":"true"} once they have a leader).
is_healthy() { grep -q '"health": *"true"'; }

# lists_three_members reads a /v2/members body and succeeds when three
# members have published client URLs (etcd lists a member that has not
# published yet with "clientURLs":[]).
lists_three_members() {
	local n
	n=$(grep -o '"clientURLs": *\[ *"http' | wc -l)
	((n == 3))
}

# start_member LABEL NAME DATADIR CPORT PPORT [PEERS|INITIAL_CLUSTER TOKEN]
# starts one arbor member (PEERS: its -peers, empty for the first) or one
# etcd member (INITIAL_CLUSTER and TOKEN) in the background and records it.
start_member() {
	local label=$1 name=$2 dir=$3 cport=$4 pport=$5
	local log=$WORK/$label-$name.log
	mkdir -p "$dir"
	echo "--- start $(date +%T) on ports $cport/$pport" >>"$log"
	if [[ $label == arbor-3 ]]; then
		local extra=()
		[[ -z ${6:-} ]] || extra+=(-peers "$6")
		[[ -z $SNAPSHOT_COUNT ]] || extra+=(-snapshot-count "$SNAPSHOT_COUNT")
		"$ARBOR" -name "$name" -data-dir "$dir" \
			-peer-heartbeat-interval "$HEARTBEAT_MS" -peer-election-timeout "$ELECTION_MS" \
			-addr "127.0.0.1:$cport" -bind-addr "127.0.0.1:$cport" \
			-peer-addr "127.0.0.1:$pport" -peer-bind-addr "127.0.0.1:$pport" \
			"${extra[@]}" >>"$log" 2>&1 &
	else
		"$ETCD_BIN" --enable-v2=true --name "$name" --data-dir "$dir" \
			--heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
			--listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
			--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
			--initial-cluster "$6" --initial-cluster-state new --initial-cluster-token "$7" >>"$log" 2>&1 &
	fi
	PIDS+=("$!")
	MEMBER_PIDS+=("$!")
	MEMBER_LOGS+=("$log")
	MEMBER_URLS+=("http://127.0.0.1:$cport")
}

# wait_member I PATH [READY] waits (60 s at most) until member I answers
# PATH, and READY accepts the body when given.
wait_member() {
	SERVER_PID=${MEMBER_PIDS[$1]}
	SERVER_LOG=${MEMBER_LOGS[$1]}
	wait_get "${MEMBER_URLS[$1]}$2" 60 "${3:-}" >/dev/null
}

# stop_members stops the running cluster: SIGTERM to all members at once
# (so none waits for the others to go), then stop_pid each.
stop_members() {
	local p
	for p in "${MEMBER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${MEMBER_PIDS[@]}"; do stop_pid "$p"; done
	MEMBER_PIDS=()
}

# start_cluster LABEL DATA starts three members of arbor-3 or etcd-3 on new
# free ports, each on a fresh data dir under DATA, and waits until all are
# healthy and list three members; sets ENDPOINTS. A start that fails because
# a port was taken is retried on other ports.
start_cluster() {
	local label=$1 data=$2 attempt i ok names=() cports=() pports=()
	if [[ $label == arbor-3 ]]; then names=(a b c); else names=(e1 e2 e3); fi
	for attempt in 1 2 3 4 5; do
		rm -rf "$data"
		MEMBER_PIDS=() MEMBER_LOGS=() MEMBER_URLS=() cports=() pports=()
		for i in 0 1 2; do
			next_free_port
			cports+=("$FREE_PORT")
			next_free_port
			pports+=("$FREE_PORT")
		done
		ok=1
		if [[ $label == arbor-3 ]]; then
			# Each joins through the members already up, once they serve.
			local peers=""
			for i in 0 1 2; do
				start_member "$label" "${names[i]}" "$data/${names[i]}" "${cports[i]}" "${pports[i]}" "$peers"
				wait_member "$i" /health is_healthy || { ok=0 && break; }
				peers+=${peers:+,}127.0.0.1:${pports[i]}
			done
		else
			local initial="" token
			token=perf-$STAMP-$attempt-$$
			for i in 0 1 2; do
				initial+=${initial:+,}${names[i]}=http://127.0.0.1:${pports[i]}
			done
			for i in 0 1 2; do
				start_member "$label" "${names[i]}" "$data/${names[i]}" "${cports[i]}" "${pports[i]}" "$initial" "$token"
			done
			for i in 0 1 2; do
				wait_member "$i" /health is_healthy || { ok=0 && break; }
			done
		fi
		if ((ok)); then
			for i in 0 1 2; do
				wait_member "$i" /v2/members lists_three_members || { ok=0 && break; }
			done
		fi
		if ((ok)); then
			ENDPOINTS=$(
				IFS=,
				echo "${MEMBER_URLS[*]}"
			)
			return 0
		fi
		stop_members
		local taken=0 log
		for log in "${MEMBER_LOGS[@]}"; do
			if tail -n 5 "$log" | grep -q "address already in use"; then taken=1; fi
		done
		((taken)) || return 1
		log "[$label] a port was taken (attempt $attempt); retrying"
		sleep 1
	done
	return 1
}

# run_cluster LABEL runs the whole matrix against one 3-member cluster.
run_cluster() {
	local label=$1 data=$WORK/$1-data t0 took
	t0=$(now)
	if ! start_cluster "$label" "$data"; then
		log "[$label] the cluster did not form; skipping it"
		return 0
	fi
	took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
	log "[$label] pids ${MEMBER_PIDS[*]} formed a cluster after $took s on $ENDPOINTS (logs: $WORK/$label-*.log)"

	for c in 64 256; do
		run_case "$label" -clients "$c" -value-size 256 -duration "$DURATION" put
	done
	run_case "$label" -clients 64 -value-size 256 -duration "$DURATION" -quorum get
	for mode in stream longpoll; do
		run_case "$label" -watchers "$WATCHERS" -watch-mode "$mode" -rate "$WATCH_RATE" \
			-duration "$DURATION" -prefix /watch -keys 1000 watch
	done
	stop_members
	[[ $KEEP == 1 ]] || rm -rf "$data"
}

etcd_version=$([[ -n $ETCD_BIN ]] && "$ETCD_BIN" --version 2>/dev/null | awk '/^etcd Version/ { print $3 }' || true)
printf '{"mode":"meta","date":"%s","git":"%s","etcd_version":"%s","nproc":%s,"duration":"%s","watchers":%s,"watch_rate":%s,"members":3}\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	"${etcd_version:-none}" "$(nproc)" "$DURATION" "$WATCHERS" "$WATCH_RATE" >>"$RESULTS"

if ((RUN_ARBOR)); then run_cluster arbor-3; fi
if ((RUN_ETCD)); then run_cluster etcd-3; fi

echo
{
	echo "# 3-member arbor vs 3-member etcd, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "git $(git rev-parse --short HEAD 2>/dev/null || echo unknown), etcd ${etcd_version:-none}," \
		"$(nproc) CPUs (clients and all members on one machine), DURATION=$DURATION," \
		"WATCHERS=$WATCHERS, WATCH_RATE=$WATCH_RATE"
	echo
	"$BENCH" table "$RESULTS"
} | tee "$TABLE"
log "results: $RESULTS, table: $TABLE"

# perf-lib.sh: helpers shared by scripts/perf.sh and scripts/perf-cluster.sh.
# Source it; it defines functions only and runs nothing.
#
# The sourcing script owns these variables (the functions read or set them):
#   PIDS        array of server processes it started and has not reaped
#   SERVER_PID  the process wait_get watches (it gives up if that one dies)
#   SERVER_LOG  that process's log, shown when a wait fails
#   ENDPOINTS   comma-separated client URLs run_case sends its load to
#   WORK KEEP   temp dir removed by cleanup (kept when KEEP=1)
#   BASE_PORT   first port next_free_port tries (it stays below BASE_PORT+1000)
#   BENCH RESULTS  the arbor-bench binary and the JSONL file run_case appends to
#   ONLY ETCD_BIN ARBOR  read by check_only and build_binaries
#
# Every process is stopped by its PID, never by name: the machine is shared.

# log prints a message on stderr, prefixed with the running script's name.
log() { echo "${0##*/}: $*" >&2; }

# check_only exits unless ONLY is arbor, etcd or both.
check_only() {
	case $ONLY in arbor | etcd | both) ;; *)
		echo "${0##*/}: ONLY must be arbor, etcd or both, not '$ONLY'" >&2
		exit 2
		;;
	esac
}

# default_etcd_bin prints /usr/bin/etcd when it exists, else etcd in PATH
# (empty when there is none).
default_etcd_bin() {
	if [[ -x /usr/bin/etcd ]]; then echo /usr/bin/etcd; else command -v etcd || true; fi
}

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

# cleanup stops every process still in PIDS and removes WORK (the EXIT trap).
cleanup() {
	local p
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	if [[ $KEEP == 1 ]]; then
		log "kept data dirs and logs in $WORK"
	else
		rm -rf "$WORK"
	fi
}

# build_binaries builds BENCH, and ARBOR unless ONLY=etcd, and sets RUN_ARBOR
# and RUN_ETCD to 1 for the halves that can run: when ./cmd/arbor does not
# build, the etcd half runs alone (as with ONLY=etcd); without an etcd
# binary the arbor half does. Exits when neither can.
build_binaries() {
	mkdir -p bin
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
}

# port_free succeeds when no socket on this machine uses port $1 locally.
# Listeners are not enough to look at: the port range given to these scripts
# lies inside the kernel's ephemeral range, so an outgoing connection (ours
# or anyone's) may hold the port too. Starting a server still has to retry
# on "address already in use", since a port can be taken between the check
# and the server's bind.
port_free() {
	if command -v ss >/dev/null 2>&1; then
		[[ -z $(ss -Htan "sport = :$1" 2>/dev/null) ]]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

PORT_CURSOR=""
FREE_PORT=""
# next_free_port sets FREE_PORT to the next free port at or above the cursor
# (which starts at BASE_PORT); a port is handed out once per run.
next_free_port() {
	[[ -n $PORT_CURSOR ]] || PORT_CURSOR=$BASE_PORT
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

# now prints the time in seconds with microseconds.
now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }

# wait_get URL LIMIT [READY] polls URL until it answers 200 (and, when READY
# names a function, until READY succeeds on the body given on its stdin) or
# SERVER_PID dies; prints the seconds it took. Gives up after LIMIT seconds.
wait_get() {
	local url=$1 limit=$2 ready=${3:-} t0 t body
	t0=$(now)
	while true; do
		if [[ -z $ready ]]; then
			if curl -fs --noproxy '*' --max-time 2 -o /dev/null "$url"; then
				break
			fi
		elif body=$(curl -fs --noproxy '*' --max-time 2 "$url") && "$ready" <<<"$body"; then
			break
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
	t=$(now)
	awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.3f\n", b - a }'
}

# run_case LABEL ARGS... runs one arbor-bench case against ENDPOINTS and
# appends its JSON line to RESULTS.
run_case() {
	local label=$1
	shift
	local out=$WORK/case.out
	echo
	log "[$label] arbor-bench $*"
	if "$BENCH" -endpoints "$ENDPOINTS" -label "$label" "$@" | tee "$out"; then
		local line
		line=$(tail -n 1 "$out")
		if [[ $line == "{"* ]]; then
			echo "$line" >>"$RESULTS"
			return 0
		fi
	fi
	log "[$label] case failed: arbor-bench $*"
}

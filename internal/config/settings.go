package config

// kind says how a setting's text is parsed and which Config field type it
// fills.
type kind int

const (
	kindString  kind = iota
	kindBool         // flag: -x or -x=false; env: anything but 0/false is true
	kindInt          // non-negative decimal integer
	kindUint64       // non-negative decimal integer up to 2^64-1
	kindFloat        // seconds as a decimal (or a Go duration such as 30m)
	kindMillis       // time.Duration; a bare number means milliseconds
	kindSeconds      // time.Duration; a bare number means seconds
	kindBytes        // byte count, with an optional KiB/MiB/GiB or KB/MB/GB suffix
	kindList         // comma-separated; a TOML array of strings in the file
	kindIgnored      // etcd 0.4 setting with no effect in arbor; warns when set
)

// Setting groups, in the order Usage prints them.
const (
	groupMember  = "Member options"
	groupCluster = "Cluster options"
	groupClient  = "Client communication options"
	groupPeer    = "Peer communication options"
	groupLimits  = "Limits and behaviour (arbor only)"
	groupInfo    = "Information and logging"
	groupIgnored = "Accepted for etcd 0.4 compatibility, no effect"
)

var groupOrder = []string{groupMember, groupCluster, groupClient, groupPeer, groupLimits, groupInfo, groupIgnored}

// setting describes one configuration value and every way to give it.
type setting struct {
	name    string   // canonical flag name, without the dash
	alt     []string // other flag names, equally valid (-f for -force)
	aliases []string // deprecated flag names; using one adds a warning
	env     []string // environment variables, in lookup order; the first is what etcd 0.4's code read
	toml    string   // key in the config file, "peer.x" or "cluster.x" for the tables; "" if the file cannot set it
	kind    kind
	def     string // default, in the same syntax as the flag; parsed like any other source
	defShow string // default as Usage shows it, when def is not self-explanatory
	arg     string // placeholder for the value in Usage; "" for booleans
	group   string
	usage   string
}

// settings is the single table behind flags, environment, file, Usage and
// the documentation test. Every name in it must stay accepted: scripts and
// unit files written for etcd 0.4 use them.
var settings = []*setting{
	// Member.
	{name: "name", env: []string{"ETCD_NAME"}, toml: "name", kind: kindString, def: "default", arg: "<name>", group: groupMember,
		aliases: []string{"n"},
		usage:   "Human-readable name of this member, unique in the cluster; it names the member in /_etcd/machines."},
	{name: "data-dir", env: []string{"ETCD_DATA_DIR"}, toml: "data_dir", kind: kindString, defShow: "<name>.arbor", arg: "<path>", group: groupMember,
		aliases: []string{"d"},
		usage:   "Directory for the write-ahead log and snapshots; a relative path is relative to the working directory."},
	{name: "config", env: []string{"ETCD_CONFIG", "ETCD_CONFIG_FILE"}, kind: kindString, defShow: "none", arg: "<path>", group: groupMember,
		usage: "TOML configuration file; flags and environment variables override what it says."},
	{name: "snapshot", env: []string{"ETCD_SNAPSHOT"}, toml: "snapshot", kind: kindBool, def: "true", group: groupMember,
		usage: "Take snapshots and release the log before them; -snapshot=false keeps the whole log."},
	{name: "snapshot-count", env: []string{"ETCD_SNAPSHOTCOUNT", "ETCD_SNAPSHOT_COUNT"}, toml: "snapshot_count", kind: kindUint64, def: "10000", arg: "<n>", group: groupMember,
		aliases: []string{"snapshotCount"},
		usage:   "Applied entries between two snapshots."},
	{name: "force", alt: []string{"f"}, kind: kindBool, def: "false", group: groupMember,
		usage: "Discard the existing data directory and start a new member."},
	{name: "cors", env: []string{"ETCD_CORS", "ETCD_CORS_ORIGINS"}, toml: "cors", kind: kindList, defShow: "none", arg: "<origins>", group: groupMember,
		aliases: []string{"cors-origins"},
		usage:   "Comma-separated origins allowed to make cross-origin requests; * allows any."},

	// Cluster.
	{name: "peers", env: []string{"ETCD_PEERS"}, toml: "peers", kind: kindList, defShow: "none", arg: "<host:port>,...", group: groupCluster,
		aliases: []string{"C"},
		usage:   "Comma-separated peer addresses (their -peer-addr) of an existing cluster to join."},
	{name: "peers-file", env: []string{"ETCD_PEERS_FILE"}, toml: "peers_file", kind: kindString, defShow: "none", arg: "<path>", group: groupCluster,
		aliases: []string{"CF"},
		usage:   "File holding the comma-separated peer list; replaces -peers."},
	{name: "discovery", env: []string{"ETCD_DISCOVERY"}, toml: "discovery", kind: kindString, defShow: "none", arg: "<url>", group: groupCluster,
		usage: "Discovery URL used to find the other members when the cluster forms."},
	{name: "cluster-active-size", env: []string{"ETCD_CLUSTER_ACTIVE_SIZE", "ETCD_MAX_CLUSTER_SIZE"}, toml: "cluster.active_size", kind: kindInt, def: "9", arg: "<n>", group: groupCluster,
		aliases: []string{"maxsize", "max-cluster-size"},
		usage:   "Voting members wanted in a new cluster (at least 3); further members become standbys (learners)."},
	{name: "cluster-remove-delay", env: []string{"ETCD_CLUSTER_REMOVE_DELAY"}, toml: "cluster.remove_delay", kind: kindFloat, def: "1800", arg: "<seconds>", group: groupCluster,
		usage: "Seconds a voting member may be unreachable before a standby replaces it, and a standby before it is removed (at least 2)."},
	{name: "cluster-sync-interval", env: []string{"ETCD_CLUSTER_SYNC_INTERVAL"}, toml: "cluster.sync_interval", kind: kindFloat, def: "5", arg: "<seconds>", group: groupCluster,
		usage: "Seconds between a standby's checks of the cluster membership (at least 1)."},

	// Client side.
	{name: "addr", env: []string{"ETCD_ADDR"}, toml: "addr", kind: kindString, defShow: "127.0.0.1:2379 and 127.0.0.1:4001", arg: "<host:port>", group: groupClient,
		aliases: []string{"c"},
		usage:   "Address advertised to clients; setting it replaces the two default client addresses with this one."},
	{name: "bind-addr", env: []string{"ETCD_BIND_ADDR"}, toml: "bind_addr", kind: kindString, defShow: "the -addr value", arg: "<host[:port]>", group: groupClient,
		aliases: []string{"cl"},
		usage:   "Address to listen on for clients; a host without a port takes the port of -addr, :port listens on every interface."},
	{name: "ca-file", env: []string{"ETCD_CA_FILE"}, toml: "ca_file", kind: kindString, defShow: "none", arg: "<path>", group: groupClient,
		aliases: []string{"clientCAFile"},
		usage:   "CA certificate that client certificates must chain to; needs -cert-file and -key-file."},
	{name: "cert-file", env: []string{"ETCD_CERT_FILE"}, toml: "cert_file", kind: kindString, defShow: "none", arg: "<path>", group: groupClient,
		aliases: []string{"clientCert"},
		usage:   "TLS certificate for the client port; with -key-file, clients are served over https."},
	{name: "key-file", env: []string{"ETCD_KEY_FILE"}, toml: "key_file", kind: kindString, defShow: "none", arg: "<path>", group: groupClient,
		aliases: []string{"clientKey"},
		usage:   "TLS private key for the client port."},
	{name: "http-read-timeout", env: []string{"ETCD_HTTP_READ_TIMEOUT", "ETCD_CLUSTER_HTTP_READ_TIMEOUT"}, toml: "http_read_timeout", kind: kindSeconds, def: "300", arg: "<seconds>", group: groupClient,
		usage: "Longest time to read a client request, headers and body; 0 means no limit."},
	{name: "http-write-timeout", env: []string{"ETCD_HTTP_WRITE_TIMEOUT", "ETCD_CLUSTER_HTTP_WRITE_TIMEOUT"}, toml: "http_write_timeout", kind: kindSeconds, def: "300", arg: "<seconds>", group: groupClient,
		usage: "Longest time to write a client response; 0 means no limit."},

	// Peer side.
	{name: "peer-addr", env: []string{"ETCD_PEER_ADDR"}, toml: "peer.addr", kind: kindString, defShow: "127.0.0.1:2380 and 127.0.0.1:7001", arg: "<host:port>", group: groupPeer,
		aliases: []string{"s"},
		usage:   "Address advertised to other members; setting it replaces the two default peer addresses with this one."},
	{name: "peer-bind-addr", env: []string{"ETCD_PEER_BIND_ADDR"}, toml: "peer.bind_addr", kind: kindString, defShow: "the -peer-addr value", arg: "<host[:port]>", group: groupPeer,
		aliases: []string{"sl"},
		usage:   "Address to listen on for peers; a host without a port takes the port of -peer-addr."},
	{name: "peer-ca-file", env: []string{"ETCD_PEER_CA_FILE"}, toml: "peer.ca_file", kind: kindString, defShow: "none", arg: "<path>", group: groupPeer,
		aliases: []string{"serverCAFile"},
		usage:   "CA certificate that peer certificates must chain to; needs -peer-cert-file and -peer-key-file."},
	{name: "peer-cert-file", env: []string{"ETCD_PEER_CERT_FILE"}, toml: "peer.cert_file", kind: kindString, defShow: "none", arg: "<path>", group: groupPeer,
		aliases: []string{"serverCert"},
		usage:   "TLS certificate for the peer port; with -peer-key-file, peers talk https."},
	{name: "peer-key-file", env: []string{"ETCD_PEER_KEY_FILE"}, toml: "peer.key_file", kind: kindString, defShow: "none", arg: "<path>", group: groupPeer,
		aliases: []string{"serverKey"},
		usage:   "TLS private key for the peer port."},
	{name: "peer-heartbeat-interval", env: []string{"ETCD_PEER_HEARTBEAT_INTERVAL"}, toml: "peer.heartbeat_interval", kind: kindMillis, def: "50", arg: "<ms>", group: groupPeer,
		aliases: []string{"peer-heartbeat-timeout"},
		usage:   "Milliseconds between the leader's heartbeats."},
	{name: "peer-election-timeout", env: []string{"ETCD_PEER_ELECTION_TIMEOUT"}, toml: "peer.election_timeout", kind: kindMillis, def: "200", arg: "<ms>", group: groupPeer,
		usage: "Milliseconds without a heartbeat before a follower starts an election (at least twice the heartbeat interval)."},

	// Arbor's own limits and behaviour.
	{name: "max-request-bytes", env: []string{"ETCD_MAX_REQUEST_BYTES"}, toml: "max_request_bytes", kind: kindBytes, def: "10485760", defShow: "10485760 (10 MiB)", arg: "<bytes>", group: groupLimits,
		usage: "Largest client request body accepted; larger ones are refused. At most 32 MiB."},
	{name: "history-size", env: []string{"ETCD_HISTORY_SIZE"}, toml: "history_size", kind: kindInt, def: "100000", arg: "<events>", group: groupLimits,
		usage: "Events kept for watchers that resume from an older index; older ones answer 401 (event index cleared)."},
	{name: "history-bytes", env: []string{"ETCD_HISTORY_BYTES"}, toml: "history_bytes", kind: kindBytes, def: "134217728", defShow: "134217728 (128 MiB)", arg: "<bytes>", group: groupLimits,
		usage: "Keys and values the watch history may hold: beyond it its oldest events go, as past -history-size; 0 means no limit."},
	{name: "max-watchers", env: []string{"ETCD_MAX_WATCHERS"}, toml: "max_watchers", kind: kindInt, def: "100000", arg: "<n>", group: groupLimits,
		usage: "Concurrent watchers allowed on this member; 0 means no limit."},
	{name: "stream-flush-interval", env: []string{"ETCD_STREAM_FLUSH_INTERVAL"}, toml: "stream_flush_interval", kind: kindMillis, def: "25", arg: "<ms>", group: groupLimits,
		usage: "Shortest time between two writes to one stream=true watcher: under a steady flow of events, those arriving sooner go out together in one write; 0 writes each event at once."},
	{name: "wal-held-sync", env: []string{"ETCD_WAL_HELD_SYNC"}, toml: "wal_held_sync", kind: kindBool, def: "false", group: groupLimits,
		usage: "Make the log's fdatasync without letting the Go scheduler hand its thread's work to another thread: more writes/s under load (+12-18% at 64 clients here), but while a sync lasts a garbage collection waits for it, so a disk that stalls stalls reads too."},
	{name: "strict-reads", env: []string{"ETCD_STRICT_READS"}, toml: "strict_reads", kind: kindBool, def: "false", group: groupLimits,
		usage: "Make every GET linearizable, as if it carried quorum=true."},

	// Information and logging.
	{name: "v", env: []string{"ETCD_VERBOSE"}, toml: "verbose", kind: kindBool, def: "false", group: groupInfo,
		usage: "Verbose logging."},
	{name: "vv", env: []string{"ETCD_VERY_VERBOSE"}, toml: "very_verbose", kind: kindBool, def: "false", group: groupInfo,
		usage: "Very verbose logging, including Raft's debug messages; implies -v."},
	{name: "vvv", env: []string{"ETCD_VERY_VERY_VERBOSE"}, toml: "very_very_verbose", kind: kindBool, def: "false", group: groupInfo,
		usage: "Accepted from etcd 0.4; the same as -vv."},
	{name: "trace", env: []string{"ETCD_TRACE"}, toml: "trace", kind: kindString, defShow: "off", arg: "<*>", group: groupInfo,
		usage: "Serve /debug/pprof/* on the client port (etcd 0.4's switch; any value but \"\", 0 or false turns it on)."},
	{name: "version", kind: kindBool, def: "false", group: groupInfo,
		usage: "Print the version and exit; nothing else is read or checked."},
	{name: "h", alt: []string{"help"}, kind: kindBool, def: "false", group: groupInfo,
		usage: "Print this help and exit; nothing else is read or checked."},

	// etcd 0.4 settings that have no meaning here. They are accepted so that
	// existing unit files keep working, and each use adds a warning.
	{name: "max-result-buffer", env: []string{"ETCD_MAX_RESULT_BUFFER"}, toml: "max_result_buffer", kind: kindIgnored, arg: "<n>", group: groupIgnored,
		aliases: []string{"m"},
		usage:   "etcd 0.4's result buffer size."},
	{name: "max-retry-attempts", env: []string{"ETCD_MAX_RETRY_ATTEMPTS"}, toml: "max_retry_attempts", kind: kindIgnored, arg: "<n>", group: groupIgnored,
		aliases: []string{"r"},
		usage:   "etcd 0.4's number of attempts to join a cluster."},
	{name: "retry-interval", env: []string{"ETCD_RETRY_INTERVAL"}, toml: "retry_interval", kind: kindIgnored, arg: "<seconds>", group: groupIgnored,
		usage: "etcd 0.4's wait between join attempts."},
	{name: "cpuprofile", env: []string{"ETCD_CPU_PROFILE_FILE"}, kind: kindIgnored, arg: "<path>", group: groupIgnored,
		usage: "etcd 0.4's CPU profile output file."},
	{name: "graphite-host", env: []string{"ETCD_GRAPHITE_HOST"}, toml: "graphite_host", kind: kindIgnored, arg: "<host:port>", group: groupIgnored,
		usage: "etcd 0.4's Graphite metrics target."},
}

// settingByName indexes settings by canonical name.
var settingByName = func() map[string]*setting {
	m := make(map[string]*setting, len(settings))
	for _, s := range settings {
		if m[s.name] != nil {
			panic("config: setting " + s.name + " listed twice")
		}
		m[s.name] = s
	}
	return m
}()

// settingByTOML indexes settings by their config-file key ("peer.addr").
var settingByTOML = func() map[string]*setting {
	m := make(map[string]*setting)
	for _, s := range settings {
		if s.toml != "" {
			m[s.toml] = s
		}
	}
	return m
}()

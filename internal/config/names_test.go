package config

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// sampleFor returns a valid, non-default value for every setting, with any
// flags the value needs beside it (a certificate needs its key). The TLS
// files are real, since Load opens them.
func samples(t *testing.T) map[string]struct {
	v     string
	extra []string
} {
	t.Helper()
	crt := writeFile(t, "c.crt", "x")
	key := writeFile(t, "c.key", "x")
	ca := writeFile(t, "ca.crt", "x")
	cfg := writeFile(t, "a.toml", "history_size = 7\n")
	pf := writeFile(t, "peers", "10.9.9.9:7001")
	type s = struct {
		v     string
		extra []string
	}
	return map[string]s{
		"name":                    {v: "n1"},
		"data-dir":                {v: "/var/lib/arbor"},
		"config":                  {v: cfg},
		"snapshot":                {v: "false"},
		"snapshot-count":          {v: "123"},
		"force":                   {v: "true"},
		"cors":                    {v: "http://a.example,*"},
		"peers":                   {v: "10.0.0.1:7001,10.0.0.2:7001"},
		"peers-file":              {v: pf},
		"discovery":               {v: "https://discovery.example/abc"},
		"cluster-active-size":     {v: "5"},
		"cluster-remove-delay":    {v: "60"},
		"cluster-sync-interval":   {v: "2"},
		"addr":                    {v: "10.0.0.1:4001"},
		"bind-addr":               {v: "0.0.0.0:4001"},
		"ca-file":                 {v: ca, extra: []string{"-cert-file", crt, "-key-file", key}},
		"cert-file":               {v: crt, extra: []string{"-key-file", key}},
		"key-file":                {v: key, extra: []string{"-cert-file", crt}},
		"http-read-timeout":       {v: "10"},
		"http-write-timeout":      {v: "11"},
		"peer-addr":               {v: "10.0.0.1:7001"},
		"peer-bind-addr":          {v: "0.0.0.0:7001"},
		"peer-ca-file":            {v: ca, extra: []string{"-peer-cert-file", crt, "-peer-key-file", key}},
		"peer-cert-file":          {v: crt, extra: []string{"-peer-key-file", key}},
		"peer-key-file":           {v: key, extra: []string{"-peer-cert-file", crt}},
		"peer-heartbeat-interval": {v: "20"},
		"peer-election-timeout":   {v: "500"},
		"max-request-bytes":       {v: "4096"},
		"history-size":            {v: "50"},
		"history-bytes":           {v: "1MiB"},
		"max-watchers":            {v: "0"},
		"stream-flush-interval":   {v: "0"},
		"strict-reads":            {v: "true"},
		"wal-held-sync":           {v: "true"},
		"v":                       {v: "true"},
		"vv":                      {v: "true"},
		"vvv":                     {v: "true"},
		"version":                 {v: "true"},
		"h":                       {v: "true"},
		"max-result-buffer":       {v: "512"},
		"max-retry-attempts":      {v: "5"},
		"retry-interval":          {v: "1.5"},
		"cpuprofile":              {v: "/tmp/cpu.prof"},
		"trace":                   {v: "*"},
		"graphite-host":           {v: "g:2003"},
	}
}

func TestEverySettingHasASample(t *testing.T) {
	sm := samples(t)
	for _, s := range settings {
		if _, ok := sm[s.name]; !ok {
			t.Errorf("setting %s has no sample value; add one so the alias and env tests cover it", s.name)
		}
	}
}

// withoutWarnings drops warnings so configs from different spellings compare.
func withoutWarnings(c *Config) *Config {
	cc := *c
	cc.Warnings = nil
	return &cc
}

// etcd04Aliases is etcd 0.4.6's table of deprecated flags and their
// replacements, plus -cors-origins, which arbor also accepts for -cors.
var etcd04Aliases = map[string]string{
	"C": "peers", "CF": "peers-file", "n": "name", "c": "addr", "cl": "bind-addr",
	"s": "peer-addr", "sl": "peer-bind-addr", "d": "data-dir",
	"m": "max-result-buffer", "r": "max-retry-attempts",
	"maxsize": "cluster-active-size", "max-cluster-size": "cluster-active-size",
	"clientCAFile": "ca-file", "clientCert": "cert-file", "clientKey": "key-file",
	"serverCAFile": "peer-ca-file", "serverCert": "peer-cert-file", "serverKey": "peer-key-file",
	"snapshotCount": "snapshot-count", "peer-heartbeat-timeout": "peer-heartbeat-interval",
	"cors-origins": "cors",
}

func TestDeprecatedAliases(t *testing.T) {
	got := map[string]string{}
	for _, s := range settings {
		for _, a := range s.aliases {
			got[a] = s.name
		}
	}
	if !reflect.DeepEqual(got, etcd04Aliases) {
		t.Errorf("alias table differs from etcd 0.4's:\n got %v\nwant %v", got, etcd04Aliases)
	}

	sm := samples(t)
	for alias, target := range etcd04Aliases {
		t.Run(alias, func(t *testing.T) {
			smp := sm[target]
			viaAlias := mustLoad(t, append([]string{"-" + alias, smp.v}, smp.extra...), nil)
			viaName := mustLoad(t, append([]string{"-" + target, smp.v}, smp.extra...), nil)
			if !reflect.DeepEqual(withoutWarnings(viaAlias), withoutWarnings(viaName)) {
				t.Errorf("-%s %s and -%s %s give different configs:\n%+v\n%+v", alias, smp.v, target, smp.v, viaAlias, viaName)
			}
			want := "[deprecated] use -" + target + ", not -" + alias
			if len(viaAlias.Warnings) == 0 || viaAlias.Warnings[0] != want {
				t.Errorf("warnings %q, want first %q", viaAlias.Warnings, want)
			}
			if hasWarning(viaName, "[deprecated]") {
				t.Errorf("canonical -%s warned: %q", target, viaName.Warnings)
			}
		})
	}
	// Double-dash spelling works for aliases too, and one warning is given
	// however often the alias appears.
	c := mustLoad(t, []string{"--C", "a:1", "-C", "b:1"}, nil)
	if n := strings.Count(strings.Join(c.Warnings, "\n"), "not -C"); n != 1 {
		t.Errorf("%d warnings for -C, want 1: %q", n, c.Warnings)
	}
}

// TestEnvSpellings checks that every environment variable of every setting
// gives the same result as the flag, and that the spellings etcd 0.4's code
// and documentation used are all there.
func TestEnvSpellings(t *testing.T) {
	want := map[string]string{
		"ETCD_ADDR": "addr", "ETCD_BIND_ADDR": "bind-addr", "ETCD_CA_FILE": "ca-file",
		"ETCD_CERT_FILE": "cert-file", "ETCD_KEY_FILE": "key-file",
		"ETCD_CORS": "cors", "ETCD_CORS_ORIGINS": "cors",
		"ETCD_DATA_DIR": "data-dir", "ETCD_DISCOVERY": "discovery",
		"ETCD_HTTP_READ_TIMEOUT": "http-read-timeout", "ETCD_CLUSTER_HTTP_READ_TIMEOUT": "http-read-timeout",
		"ETCD_HTTP_WRITE_TIMEOUT": "http-write-timeout", "ETCD_CLUSTER_HTTP_WRITE_TIMEOUT": "http-write-timeout",
		"ETCD_PEERS": "peers", "ETCD_PEERS_FILE": "peers-file",
		"ETCD_MAX_RESULT_BUFFER": "max-result-buffer", "ETCD_MAX_RETRY_ATTEMPTS": "max-retry-attempts",
		"ETCD_RETRY_INTERVAL": "retry-interval", "ETCD_NAME": "name",
		"ETCD_SNAPSHOT": "snapshot", "ETCD_SNAPSHOTCOUNT": "snapshot-count", "ETCD_SNAPSHOT_COUNT": "snapshot-count",
		"ETCD_VERBOSE": "v", "ETCD_VERY_VERBOSE": "vv", "ETCD_VERY_VERY_VERBOSE": "vvv",
		"ETCD_PEER_ADDR": "peer-addr", "ETCD_PEER_BIND_ADDR": "peer-bind-addr",
		"ETCD_PEER_CA_FILE": "peer-ca-file", "ETCD_PEER_CERT_FILE": "peer-cert-file", "ETCD_PEER_KEY_FILE": "peer-key-file",
		"ETCD_PEER_HEARTBEAT_INTERVAL": "peer-heartbeat-interval", "ETCD_PEER_ELECTION_TIMEOUT": "peer-election-timeout",
		"ETCD_TRACE": "trace", "ETCD_GRAPHITE_HOST": "graphite-host", "ETCD_CPU_PROFILE_FILE": "cpuprofile",
		"ETCD_CLUSTER_ACTIVE_SIZE": "cluster-active-size", "ETCD_MAX_CLUSTER_SIZE": "cluster-active-size",
		"ETCD_CLUSTER_REMOVE_DELAY": "cluster-remove-delay", "ETCD_CLUSTER_SYNC_INTERVAL": "cluster-sync-interval",
		"ETCD_CONFIG": "config", "ETCD_CONFIG_FILE": "config",
		"ETCD_MAX_REQUEST_BYTES": "max-request-bytes", "ETCD_HISTORY_SIZE": "history-size", "ETCD_HISTORY_BYTES": "history-bytes",
		"ETCD_MAX_WATCHERS": "max-watchers", "ETCD_STRICT_READS": "strict-reads",
		"ETCD_WAL_HELD_SYNC":         "wal-held-sync",
		"ETCD_STREAM_FLUSH_INTERVAL": "stream-flush-interval",
	}
	got := map[string]string{}
	for _, s := range settings {
		for _, e := range s.env {
			if got[e] != "" {
				t.Errorf("%s read by both %s and %s", e, got[e], s.name)
			}
			got[e] = s.name
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env table:\n got %v\nwant %v", got, want)
	}

	sm := samples(t)
	for env, name := range want {
		t.Run(env, func(t *testing.T) {
			smp := sm[name]
			viaEnv := mustLoad(t, smp.extra, map[string]string{env: smp.v})
			viaFlag := mustLoad(t, append([]string{"-" + name + "=" + smp.v}, smp.extra...), nil)
			if !reflect.DeepEqual(withoutWarnings(viaEnv), withoutWarnings(viaFlag)) {
				t.Errorf("%s=%s differs from -%s:\n%+v\n%+v", env, smp.v, name, viaEnv, viaFlag)
			}
			// Without the variable the result must differ (or fail, when
			// the companion flags need it), or the variable was not read.
			base, err := Load(smp.extra, nil)
			if err == nil && reflect.DeepEqual(withoutWarnings(viaEnv), withoutWarnings(base)) &&
				settingByName[name].kind != kindIgnored {
				t.Errorf("%s=%s changed nothing", env, smp.v)
			}
		})
	}
}

func TestFlagOnlySettingsIgnoreEnvAndFile(t *testing.T) {
	// -force, -h and -version are deliberately not settable from the
	// environment: a stray ETCD_FORCE must not wipe a data directory.
	for _, s := range []string{"force", "h", "version"} {
		if st := settingByName[s]; len(st.env) != 0 || st.toml != "" {
			t.Errorf("%s can be set outside the command line", s)
		}
	}
}

func TestTOMLFile(t *testing.T) {
	crt := writeFile(t, "c.crt", "x")
	key := writeFile(t, "c.key", "x")
	file := writeFile(t, "arbor.toml", `
addr = "10.0.0.1:4001"
bind_addr = "0.0.0.0"
cors = ["http://ui.example"]
data_dir = "/var/lib/arbor"
discovery = "https://discovery.example/tok"
http_read_timeout = 10.0
http_write_timeout = 20
peers = ["10.0.0.2:7001", "10.0.0.3:7001"]
name = "node1"
snapshot = false
snapshot_count = 500
verbose = true
very_verbose = false
very_very_verbose = false
max_request_bytes = "1MiB"
history_size = 2000
max_watchers = 0
strict_reads = true
cert_file = "`+crt+`"
key_file = "`+key+`"

[peer]
addr = "10.0.0.1:7001"
bind_addr = "0.0.0.0"
heartbeat_interval = 100
election_timeout = 1000

[cluster]
active_size = 5
remove_delay = 60.0
sync_interval = 2
`)
	c := mustLoad(t, []string{"-config", file}, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Addr", c.Addr, "10.0.0.1:4001"},
		{"ClientListen", c.ClientListen, []string{"0.0.0.0:4001"}},
		{"ClientURLs", c.ClientURLs, []string{"https://10.0.0.1:4001"}},
		{"CORS", c.CORS, []string{"http://ui.example"}},
		{"DataDir", c.DataDir, "/var/lib/arbor"},
		{"Discovery", c.Discovery, "https://discovery.example/tok"},
		{"HTTPReadTimeout", c.HTTPReadTimeout.Seconds(), 10.0},
		{"HTTPWriteTimeout", c.HTTPWriteTimeout.Seconds(), 20.0},
		{"Peers", c.Peers, []string{"10.0.0.2:7001", "10.0.0.3:7001"}},
		{"Name", c.Name, "node1"},
		{"Snapshot", c.Snapshot, false},
		{"SnapshotCount", c.SnapshotCount, uint64(500)},
		{"Verbose", c.Verbose, true},
		{"MaxRequestBytes", c.MaxRequestBytes, int64(1 << 20)},
		{"HistorySize", c.HistorySize, 2000},
		{"MaxWatchers", c.MaxWatchers, 0},
		{"StrictReads", c.StrictReads, true},
		{"PeerAddr", c.PeerAddr, "10.0.0.1:7001"},
		{"PeerListen", c.PeerListen, []string{"0.0.0.0:7001"}},
		{"PeerURLs", c.PeerURLs, []string{"http://10.0.0.1:7001"}},
		{"HeartbeatInterval", c.HeartbeatInterval.Milliseconds(), int64(100)},
		{"ElectionTimeout", c.ElectionTimeout.Milliseconds(), int64(1000)},
		{"ClusterActiveSize", c.ClusterActiveSize, 5},
		{"ClusterRemoveDelay", c.ClusterRemoveDelay, 60.0},
		{"ClusterSyncInterval", c.ClusterSyncInterval, 2.0},
		{"ConfigFile", c.ConfigFile, file},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}

	// ETCD_CONFIG_FILE names the file as well.
	c = mustLoad(t, nil, map[string]string{"ETCD_CONFIG_FILE": file})
	if c.Name != "node1" {
		t.Errorf("ETCD_CONFIG_FILE not read: name %q", c.Name)
	}
	// -config beats ETCD_CONFIG.
	other := writeFile(t, "b.toml", `name = "other"`)
	c = mustLoad(t, []string{"-config", other}, map[string]string{"ETCD_CONFIG": file})
	if c.Name != "other" {
		t.Errorf("-config did not beat ETCD_CONFIG: name %q", c.Name)
	}
}

func TestTOMLKeysMatchEtcd04(t *testing.T) {
	etcd := []string{
		"addr", "bind_addr", "ca_file", "cert_file", "key_file", "cors", "data_dir", "discovery",
		"http_read_timeout", "http_write_timeout", "peers", "peers_file", "max_result_buffer",
		"max_retry_attempts", "retry_interval", "name", "snapshot", "snapshot_count", "verbose",
		"very_verbose", "very_very_verbose", "trace", "graphite_host",
		"peer.addr", "peer.bind_addr", "peer.ca_file", "peer.cert_file", "peer.key_file",
		"peer.heartbeat_interval", "peer.election_timeout",
		"cluster.active_size", "cluster.remove_delay", "cluster.sync_interval",
	}
	ours := []string{"max_request_bytes", "history_size", "history_bytes", "max_watchers", "stream_flush_interval", "strict_reads", "wal_held_sync"}
	var want, got []string
	want = append(append(want, etcd...), ours...)
	for k := range settingByTOML {
		got = append(got, k)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("file keys:\n got %v\nwant %v", got, want)
	}
}

func TestTOMLUnknownKeys(t *testing.T) {
	file := writeFile(t, "a.toml", "nmae = \"x\"\n[peer]\nadr = \"y\"\n[cluster]\nactive_size = 3\n[extra]\nk = 1\n")
	_, err := Load([]string{"-config", file}, nil)
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err %v, want unknown keys", err)
	}
	if ce.Value != "extra, nmae, peer.adr" || ce.Source != file {
		t.Errorf("Value %q Source %q", ce.Value, ce.Source)
	}
}

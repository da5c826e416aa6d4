package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// envOf returns a getenv over a fixed map, so tests never see the real
// environment.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, args []string, env map[string]string) *Config {
	t.Helper()
	c, err := Load(args, envOf(env))
	if err != nil {
		t.Fatalf("Load(%q, %v): %v", args, env, err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, nil, nil)
	want := &Config{
		Name:                "default",
		DataDir:             "default.arbor",
		Addr:                "127.0.0.1:4001",
		BindAddr:            "127.0.0.1:4001",
		PeerAddr:            "127.0.0.1:7001",
		PeerBindAddr:        "127.0.0.1:7001",
		ClientListen:        []string{"127.0.0.1:2379", "127.0.0.1:4001"},
		PeerListen:          []string{"127.0.0.1:2380", "127.0.0.1:7001"},
		ClientURLs:          []string{"http://127.0.0.1:2379", "http://127.0.0.1:4001"},
		PeerURLs:            []string{"http://127.0.0.1:2380", "http://127.0.0.1:7001"},
		Snapshot:            true,
		SnapshotCount:       10000,
		ClusterActiveSize:   9,
		ClusterRemoveDelay:  1800,
		ClusterSyncInterval: 5,
		HeartbeatInterval:   50 * time.Millisecond,
		ElectionTimeout:     200 * time.Millisecond,
		HTTPReadTimeout:     300 * time.Second,
		HTTPWriteTimeout:    300 * time.Second,
		MaxRequestBytes:     10 << 20,
		HistorySize:         100000,
		HistoryBytes:        128 << 20,
		MaxWatchers:         100000,
		StreamFlushInterval: 25 * time.Millisecond,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if c.ClientTLS() || c.PeerTLS() {
		t.Error("TLS on by default")
	}
}

// TestPrecedence checks flag > env > file > default for settings of every
// kind, one source added at a time.
func TestPrecedence(t *testing.T) {
	cases := []struct {
		flag, env, key    string // flag name, env var, TOML key as written in the file
		file, envV, flagV string
		fileTOML          string // the value as TOML syntax
		get               func(*Config) any
		def, fromFile     any
		fromEnv, fromFlag any
	}{
		{flag: "name", env: "ETCD_NAME", key: "name", fileTOML: `"f"`, envV: "e", flagV: "g",
			get: func(c *Config) any { return c.Name }, def: "default", fromFile: "f", fromEnv: "e", fromFlag: "g"},
		{flag: "data-dir", env: "ETCD_DATA_DIR", key: "data_dir", fileTOML: `"/f"`, envV: "/e", flagV: "/g",
			get: func(c *Config) any { return c.DataDir }, def: "default.arbor", fromFile: "/f", fromEnv: "/e", fromFlag: "/g"},
		{flag: "snapshot", env: "ETCD_SNAPSHOT", key: "snapshot", fileTOML: `false`, envV: "1", flagV: "false",
			get: func(c *Config) any { return c.Snapshot }, def: true, fromFile: false, fromEnv: true, fromFlag: false},
		{flag: "wal-held-sync", env: "ETCD_WAL_HELD_SYNC", key: "wal_held_sync", fileTOML: `true`, envV: "0", flagV: "true",
			get: func(c *Config) any { return c.WALHeldSync }, def: false, fromFile: true, fromEnv: false, fromFlag: true},
		{flag: "strict-reads", env: "ETCD_STRICT_READS", key: "strict_reads", fileTOML: `true`, envV: "0", flagV: "true",
			get: func(c *Config) any { return c.StrictReads }, def: false, fromFile: true, fromEnv: false, fromFlag: true},
		{flag: "snapshot-count", env: "ETCD_SNAPSHOTCOUNT", key: "snapshot_count", fileTOML: `500`, envV: "600", flagV: "700",
			get: func(c *Config) any { return c.SnapshotCount }, def: uint64(10000), fromFile: uint64(500), fromEnv: uint64(600), fromFlag: uint64(700)},
		{flag: "history-size", env: "ETCD_HISTORY_SIZE", key: "history_size", fileTOML: `10`, envV: "20", flagV: "30",
			get: func(c *Config) any { return c.HistorySize }, def: 100000, fromFile: 10, fromEnv: 20, fromFlag: 30},
		{flag: "history-bytes", env: "ETCD_HISTORY_BYTES", key: "history_bytes", fileTOML: `"1MiB"`, envV: "2048", flagV: "0",
			get: func(c *Config) any { return c.HistoryBytes }, def: int64(128 << 20), fromFile: int64(1 << 20), fromEnv: int64(2048), fromFlag: int64(0)},
		{flag: "cluster-active-size", env: "ETCD_CLUSTER_ACTIVE_SIZE", key: "cluster.active_size", fileTOML: `3`, envV: "5", flagV: "7",
			get: func(c *Config) any { return c.ClusterActiveSize }, def: 9, fromFile: 3, fromEnv: 5, fromFlag: 7},
		{flag: "cluster-remove-delay", env: "ETCD_CLUSTER_REMOVE_DELAY", key: "cluster.remove_delay", fileTOML: `2.5`, envV: "60", flagV: "90",
			get: func(c *Config) any { return c.ClusterRemoveDelay }, def: 1800.0, fromFile: 2.5, fromEnv: 60.0, fromFlag: 90.0},
		{flag: "peer-heartbeat-interval", env: "ETCD_PEER_HEARTBEAT_INTERVAL", key: "peer.heartbeat_interval", fileTOML: `10`, envV: "20", flagV: "30ms",
			get: func(c *Config) any { return c.HeartbeatInterval }, def: 50 * time.Millisecond, fromFile: 10 * time.Millisecond, fromEnv: 20 * time.Millisecond, fromFlag: 30 * time.Millisecond},
		{flag: "http-read-timeout", env: "ETCD_HTTP_READ_TIMEOUT", key: "http_read_timeout", fileTOML: `2.5`, envV: "10", flagV: "1m",
			get: func(c *Config) any { return c.HTTPReadTimeout }, def: 300 * time.Second, fromFile: 2500 * time.Millisecond, fromEnv: 10 * time.Second, fromFlag: time.Minute},
		{flag: "max-request-bytes", env: "ETCD_MAX_REQUEST_BYTES", key: "max_request_bytes", fileTOML: `1024`, envV: "2KiB", flagV: "1MiB",
			get: func(c *Config) any { return c.MaxRequestBytes }, def: int64(10 << 20), fromFile: int64(1024), fromEnv: int64(2048), fromFlag: int64(1 << 20)},
		{flag: "peers", env: "ETCD_PEERS", key: "peers", fileTOML: `["f:1", "f:2"]`, envV: "e:1,e:2", flagV: "g:1",
			get: func(c *Config) any { return c.Peers }, def: []string(nil), fromFile: []string{"f:1", "f:2"}, fromEnv: []string{"e:1", "e:2"}, fromFlag: []string{"g:1"}},
		{flag: "cors", env: "ETCD_CORS", key: "cors", fileTOML: `["http://f"]`, envV: "*", flagV: "http://g,http://h",
			get: func(c *Config) any { return c.CORS }, def: []string(nil), fromFile: []string{"http://f"}, fromEnv: []string{"*"}, fromFlag: []string{"http://g", "http://h"}},
		{flag: "addr", env: "ETCD_ADDR", key: "addr", fileTOML: `"10.0.0.1:1"`, envV: "10.0.0.2:2", flagV: "10.0.0.3:3",
			get: func(c *Config) any { return c.Addr }, def: "127.0.0.1:4001", fromFile: "10.0.0.1:1", fromEnv: "10.0.0.2:2", fromFlag: "10.0.0.3:3"},
		{flag: "peer-addr", env: "ETCD_PEER_ADDR", key: "peer.addr", fileTOML: `"10.0.0.1:1"`, envV: "10.0.0.2:2", flagV: "10.0.0.3:3",
			get: func(c *Config) any { return c.PeerAddr }, def: "127.0.0.1:7001", fromFile: "10.0.0.1:1", fromEnv: "10.0.0.2:2", fromFlag: "10.0.0.3:3"},
		{flag: "discovery", env: "ETCD_DISCOVERY", key: "discovery", fileTOML: `"http://f/x"`, envV: "https://e/x", flagV: "http://g/x",
			get: func(c *Config) any { return c.Discovery }, def: "", fromFile: "http://f/x", fromEnv: "https://e/x", fromFlag: "http://g/x"},
	}
	for _, tc := range cases {
		t.Run(tc.flag, func(t *testing.T) {
			line := tc.key + " = " + tc.fileTOML
			if tbl, k, ok := strings.Cut(tc.key, "."); ok {
				line = "[" + tbl + "]\n" + k + " = " + tc.fileTOML
			}
			file := writeFile(t, "arbor.toml", line+"\n")
			steps := []struct {
				name string
				args []string
				env  map[string]string
				want any
			}{
				{"default", nil, nil, tc.def},
				{"file", []string{"-config", file}, nil, tc.fromFile},
				{"env over file", []string{"-config", file}, map[string]string{tc.env: tc.envV}, tc.fromEnv},
				{"flag over env", []string{"-config", file, "-" + tc.flag + "=" + tc.flagV}, map[string]string{tc.env: tc.envV}, tc.fromFlag},
				{"flag over file", []string{"-config=" + file, "--" + tc.flag + "=" + tc.flagV}, nil, tc.fromFlag},
			}
			for _, st := range steps {
				c := mustLoad(t, st.args, st.env)
				if got := tc.get(c); !reflect.DeepEqual(got, st.want) {
					t.Errorf("%s: got %#v, want %#v", st.name, got, st.want)
				}
			}
		})
	}
}

func TestLastFlagWins(t *testing.T) {
	c := mustLoad(t, []string{"-name", "a", "-n", "b", "-name=c"}, nil)
	if c.Name != "c" {
		t.Errorf("name = %q, want c", c.Name)
	}
	c = mustLoad(t, []string{"-name", "a", "-n", "b"}, nil)
	if c.Name != "b" {
		t.Errorf("name = %q, want b (left to right)", c.Name)
	}
}

func TestEmptyEnvIsUnset(t *testing.T) {
	file := writeFile(t, "a.toml", "name = \"fromfile\"\n")
	c := mustLoad(t, []string{"-config", file}, map[string]string{"ETCD_NAME": "  "})
	if c.Name != "fromfile" {
		t.Errorf("name = %q: an empty variable must not override the file", c.Name)
	}
}

func TestEnvBool(t *testing.T) {
	for v, want := range map[string]bool{
		"0": false, "false": false, "FALSE": false, "False": false,
		"1": true, "true": true, "yes": true, "no": true, "anything": true, " false ": false,
	} {
		c := mustLoad(t, nil, map[string]string{"ETCD_STRICT_READS": v, "ETCD_SNAPSHOT": v})
		if c.StrictReads != want || c.Snapshot != want {
			t.Errorf("%q: strict-reads %v, snapshot %v, want %v", v, c.StrictReads, c.Snapshot, want)
		}
	}
}

func TestFlagBool(t *testing.T) {
	cases := []struct {
		args []string
		want bool
	}{
		{[]string{"-snapshot"}, true},
		{[]string{"-snapshot=false"}, false},
		{[]string{"--snapshot=0"}, false},
		{[]string{"-snapshot=T"}, true},
	}
	for _, tc := range cases {
		if c := mustLoad(t, tc.args, nil); c.Snapshot != tc.want {
			t.Errorf("%q: snapshot %v, want %v", tc.args, c.Snapshot, tc.want)
		}
	}
}

func TestVerbosity(t *testing.T) {
	cases := []struct {
		args  []string
		env   map[string]string
		v, vv bool
	}{
		{nil, nil, false, false},
		{[]string{"-v"}, nil, true, false},
		{[]string{"-vv"}, nil, true, true},
		{[]string{"-vvv"}, nil, true, true},
		{nil, map[string]string{"ETCD_VERY_VERY_VERBOSE": "1"}, true, true},
		{nil, map[string]string{"ETCD_VERBOSE": "true"}, true, false},
	}
	for _, tc := range cases {
		c := mustLoad(t, tc.args, tc.env)
		if c.Verbose != tc.v || c.VeryVerbose != tc.vv {
			t.Errorf("%q %v: verbose %v very %v, want %v %v", tc.args, tc.env, c.Verbose, c.VeryVerbose, tc.v, tc.vv)
		}
	}
}

func TestForceVersionHelp(t *testing.T) {
	for _, args := range [][]string{{"-f"}, {"-force"}, {"--force"}} {
		if c := mustLoad(t, args, nil); !c.Force {
			t.Errorf("%q: Force not set", args)
		}
	}
	// Help and version work whatever else is wrong: an unreadable config
	// file and a bad value are not even looked at.
	bad := map[string]string{"ETCD_CONFIG": "/nonexistent/arbor.toml"}
	for _, args := range [][]string{{"-h"}, {"-help"}, {"--help"}, {"-version", "-snapshot-count=x"}, {"--version"}} {
		c := mustLoad(t, args, bad)
		if c.ShowHelp == c.ShowVersion {
			t.Errorf("%q: ShowHelp %v ShowVersion %v", args, c.ShowHelp, c.ShowVersion)
		}
	}
	// An unknown flag is still an error with -h.
	if _, err := Load([]string{"-h", "-nope"}, nil); !errors.Is(err, ErrUnknownFlag) {
		t.Errorf("-h -nope: err %v, want ErrUnknownFlag", err)
	}
}

func TestDataDirFollowsName(t *testing.T) {
	c := mustLoad(t, []string{"-name", "node1"}, nil)
	if c.DataDir != "node1.arbor" {
		t.Errorf("data dir %q, want node1.arbor", c.DataDir)
	}
	c = mustLoad(t, []string{"-name", "node1", "-data-dir", "rel/dir"}, nil)
	if c.DataDir != "rel/dir" {
		t.Errorf("data dir %q, want rel/dir (kept relative)", c.DataDir)
	}
}

func TestListParsing(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want []string
	}{
		{"flag trims and drops empties", []string{"-peers", " a:1 , b:2,,c:3, "}, nil, "", []string{"a:1", "b:2", "c:3"}},
		{"env", nil, map[string]string{"ETCD_PEERS": "a:1,b:2"}, "", []string{"a:1", "b:2"}},
		{"empty flag clears the file", []string{"-peers="}, nil, `peers = ["a:1"]`, nil},
		{"file array", nil, nil, `peers = ["a:1", " b:2 "]`, []string{"a:1", "b:2"}},
		{"file string", nil, nil, `peers = "a:1,b:2"`, []string{"a:1", "b:2"}},
		{"urls", []string{"-peers", "http://a:1,https://[::1]:7001"}, nil, "", []string{"http://a:1", "https://[::1]:7001"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"-config", writeFile(t, "a.toml", tc.file)}, args...)
			}
			c := mustLoad(t, args, tc.env)
			if !reflect.DeepEqual(c.Peers, tc.want) {
				t.Errorf("peers %#v, want %#v", c.Peers, tc.want)
			}
		})
	}
	c := mustLoad(t, nil, map[string]string{"ETCD_CORS_ORIGINS": "*, http://x.example:8080"})
	if want := []string{"*", "http://x.example:8080"}; !reflect.DeepEqual(c.CORS, want) {
		t.Errorf("cors %#v, want %#v", c.CORS, want)
	}
}

func TestPeersFile(t *testing.T) {
	pf := writeFile(t, "peers", "10.0.0.1:7001, 10.0.0.2:7001\n10.0.0.3:7001\n")
	c := mustLoad(t, []string{"-peers-file", pf, "-peers", "9.9.9.9:7001"}, nil)
	want := []string{"10.0.0.1:7001", "10.0.0.2:7001", "10.0.0.3:7001"}
	if !reflect.DeepEqual(c.Peers, want) {
		t.Errorf("peers %#v, want %#v", c.Peers, want)
	}
	if c.PeersFile != pf {
		t.Errorf("PeersFile %q", c.PeersFile)
	}
	if !hasWarning(c, "-peers-file replaces -peers") {
		t.Errorf("no warning about -peers being replaced: %q", c.Warnings)
	}
	// -CF is the deprecated spelling.
	c = mustLoad(t, []string{"-CF", pf}, nil)
	if !reflect.DeepEqual(c.Peers, want) || !hasWarning(c, "[deprecated] use -peers-file, not -CF") {
		t.Errorf("-CF: peers %#v warnings %q", c.Peers, c.Warnings)
	}
}

func hasWarning(c *Config, sub string) bool {
	for _, w := range c.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func TestEnvConflictWarns(t *testing.T) {
	c := mustLoad(t, nil, map[string]string{"ETCD_SNAPSHOTCOUNT": "5", "ETCD_SNAPSHOT_COUNT": "6"})
	if c.SnapshotCount != 5 {
		t.Errorf("snapshot count %d, want 5 (the spelling etcd 0.4's code read wins)", c.SnapshotCount)
	}
	if !hasWarning(c, "ETCD_SNAPSHOT_COUNT") {
		t.Errorf("no conflict warning: %q", c.Warnings)
	}
	c = mustLoad(t, nil, map[string]string{"ETCD_SNAPSHOTCOUNT": "5", "ETCD_SNAPSHOT_COUNT": "5"})
	if len(c.Warnings) != 0 {
		t.Errorf("agreeing spellings warned: %q", c.Warnings)
	}
}

func TestTraceTurnsOnProfiling(t *testing.T) {
	for v, want := range map[string]bool{"*": true, "1": true, "": false, "0": false, "false": false} {
		if c := mustLoad(t, nil, map[string]string{"ETCD_TRACE": v}); c.Trace != want {
			t.Errorf("ETCD_TRACE=%q: Trace %v, want %v", v, c.Trace, want)
		}
	}
	if c := mustLoad(t, []string{"-trace", "*"}, nil); !c.Trace {
		t.Error("-trace * did not turn tracing on")
	}
}

func TestIgnoredSettingsWarn(t *testing.T) {
	file := writeFile(t, "a.toml", "max_result_buffer = 5\n")
	c := mustLoad(t, []string{"-config", file, "-r", "5"}, map[string]string{"ETCD_GRAPHITE_HOST": "g:2003"})
	for _, w := range []string{
		"[deprecated] use -max-retry-attempts, not -r",
		"[ignored] -r:",
		"[ignored] ETCD_GRAPHITE_HOST:",
		"[ignored] " + file + ": max_result_buffer:",
	} {
		if !hasWarning(c, w) {
			t.Errorf("missing warning %q in %q", w, c.Warnings)
		}
	}
}

func TestDurationsAndBytesSyntax(t *testing.T) {
	c := mustLoad(t, []string{
		"-peer-heartbeat-interval", "100", "-peer-election-timeout", "1.5s",
		"-http-read-timeout", "2.34", "-http-write-timeout", "0",
		"-cluster-sync-interval", "90s", "-max-request-bytes", "3MB",
	}, nil)
	if c.HeartbeatInterval != 100*time.Millisecond || c.ElectionTimeout != 1500*time.Millisecond {
		t.Errorf("raft timing %v %v", c.HeartbeatInterval, c.ElectionTimeout)
	}
	if c.HTTPReadTimeout != 2340*time.Millisecond || c.HTTPWriteTimeout != 0 {
		t.Errorf("http timeouts %v %v", c.HTTPReadTimeout, c.HTTPWriteTimeout)
	}
	if c.ClusterSyncInterval != 90 || c.MaxRequestBytes != 3_000_000 {
		t.Errorf("sync %v bytes %d", c.ClusterSyncInterval, c.MaxRequestBytes)
	}
}

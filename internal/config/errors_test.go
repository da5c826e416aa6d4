package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestValidationErrors checks that every kind of bad input is refused with
// an *Error naming the setting, the flag, variable or file key that gave
// the value, and the value.
func TestValidationErrors(t *testing.T) {
	crt := writeFile(t, "c.crt", "x")
	key := writeFile(t, "c.key", "x")
	ca := writeFile(t, "ca.crt", "x")
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string // TOML content; passed with -config
		setting string
		source  string // "" to skip; @F is replaced by the file's path
		value   string
		is      error // sentinel expected in the chain; nil to skip
	}{
		// Counts and sizes.
		{name: "count not a number", args: []string{"-snapshot-count", "ten"}, setting: "snapshot-count", source: "-snapshot-count", value: "ten", is: ErrInvalid},
		{name: "count zero", args: []string{"-snapshot-count=0"}, setting: "snapshot-count", source: "-snapshot-count", value: "0", is: ErrInvalid},
		{name: "count negative", args: []string{"-snapshot-count=-5"}, setting: "snapshot-count", value: "-5", is: ErrInvalid},
		{name: "count overflow", args: []string{"-snapshot-count=99999999999999999999999"}, setting: "snapshot-count", is: ErrInvalid},
		{name: "count via doc env", env: map[string]string{"ETCD_SNAPSHOT_COUNT": "x"}, setting: "snapshot-count", source: "ETCD_SNAPSHOT_COUNT", value: "x", is: ErrInvalid},
		{name: "count via alias", args: []string{"-snapshotCount", "1.5"}, setting: "snapshot-count", source: "-snapshotCount", value: "1.5", is: ErrInvalid},
		{name: "count via file bool", file: "snapshot_count = true", setting: "snapshot-count", source: "@F: snapshot_count", value: "true", is: ErrInvalid},
		{name: "history zero", args: []string{"-history-size=0"}, setting: "history-size", value: "0", is: ErrInvalid},
		{name: "history negative", env: map[string]string{"ETCD_HISTORY_SIZE": "-1"}, setting: "history-size", source: "ETCD_HISTORY_SIZE", value: "-1", is: ErrInvalid},
		{name: "watchers negative", args: []string{"-max-watchers=-1"}, setting: "max-watchers", value: "-1", is: ErrInvalid},
		{name: "request bytes zero", args: []string{"-max-request-bytes=0"}, setting: "max-request-bytes", value: "0", is: ErrInvalid},
		{name: "request bytes negative", args: []string{"-max-request-bytes=-1"}, setting: "max-request-bytes", value: "-1", is: ErrInvalid},
		{name: "request bytes bad unit", args: []string{"-max-request-bytes=10XB"}, setting: "max-request-bytes", value: "10XB", is: ErrInvalid},
		{name: "request bytes over the log's limit", args: []string{"-max-request-bytes=33MiB"}, setting: "max-request-bytes", value: "33MiB", is: ErrInvalid},
		{name: "request bytes overflow", args: []string{"-max-request-bytes=9000000000GiB"}, setting: "max-request-bytes", is: ErrInvalid},

		// Cluster bounds.
		{name: "active size 2", args: []string{"-cluster-active-size=2"}, setting: "cluster-active-size", source: "-cluster-active-size", value: "2", is: ErrInvalid},
		{name: "active size text", env: map[string]string{"ETCD_MAX_CLUSTER_SIZE": "nine"}, setting: "cluster-active-size", source: "ETCD_MAX_CLUSTER_SIZE", value: "nine", is: ErrInvalid},
		{name: "active size in file", file: "[cluster]\nactive_size = 2", setting: "cluster-active-size", source: "@F: [cluster] active_size", value: "2", is: ErrInvalid},
		{name: "remove delay 1", args: []string{"-cluster-remove-delay=1"}, setting: "cluster-remove-delay", value: "1", is: ErrInvalid},
		{name: "sync interval 0.5", args: []string{"-cluster-sync-interval=0.5"}, setting: "cluster-sync-interval", value: "0.5", is: ErrInvalid},
		{name: "sync interval NaN", args: []string{"-cluster-sync-interval=NaN"}, setting: "cluster-sync-interval", value: "NaN", is: ErrInvalid},

		// Timing.
		{name: "heartbeat zero", args: []string{"-peer-heartbeat-interval=0"}, setting: "peer-heartbeat-interval", value: "0", is: ErrInvalid},
		{name: "heartbeat text", args: []string{"-peer-heartbeat-interval=fast"}, setting: "peer-heartbeat-interval", value: "fast", is: ErrInvalid},
		{name: "election below twice heartbeat", args: []string{"-peer-heartbeat-interval=50", "-peer-election-timeout=60"}, setting: "peer-election-timeout", value: "60", is: ErrInvalid},
		{name: "heartbeat raised past default election", args: []string{"-peer-heartbeat-interval=150"}, setting: "peer-heartbeat-interval", value: "150", is: ErrInvalid},
		{name: "election too long", args: []string{"-peer-election-timeout=60000"}, setting: "peer-election-timeout", value: "60000", is: ErrInvalid},
		{name: "read timeout negative", args: []string{"-http-read-timeout=-1"}, setting: "http-read-timeout", value: "-1", is: ErrInvalid},
		{name: "write timeout text", env: map[string]string{"ETCD_CLUSTER_HTTP_WRITE_TIMEOUT": "soon"}, setting: "http-write-timeout", source: "ETCD_CLUSTER_HTTP_WRITE_TIMEOUT", value: "soon", is: ErrInvalid},

		// Booleans.
		{name: "flag bool", args: []string{"-snapshot=maybe"}, setting: "snapshot", source: "-snapshot", value: "maybe", is: ErrInvalid},
		{name: "file bool string", file: `strict_reads = "perhaps"`, setting: "strict-reads", source: "@F: strict_reads", value: "perhaps", is: ErrInvalid},

		// Names and URLs.
		{name: "empty name", args: []string{"-name="}, setting: "name", source: "-name", value: "", is: ErrInvalid},
		{name: "name with slash", args: []string{"-name", "a/b"}, setting: "name", value: "a/b", is: ErrInvalid},
		{name: "discovery scheme", args: []string{"-discovery", "ftp://x/y"}, setting: "discovery", value: "ftp://x/y", is: ErrInvalid},
		{name: "discovery not a url", env: map[string]string{"ETCD_DISCOVERY": "discovery.example"}, setting: "discovery", source: "ETCD_DISCOVERY", is: ErrInvalid},
		{name: "peer no port", args: []string{"-peers", "10.0.0.1:7001,10.0.0.2"}, setting: "peers", source: "-peers", is: ErrInvalid},
		{name: "peer bad url", args: []string{"-C", "ftp://x:1"}, setting: "peers", source: "-C", is: ErrInvalid},
		{name: "cors origin", args: []string{"-cors", "*,not an origin"}, setting: "cors", is: ErrInvalid},

		// Addresses.
		{name: "addr without port", args: []string{"-addr", "10.0.0.1"}, setting: "addr", source: "-addr", value: "10.0.0.1", is: ErrInvalid},
		{name: "addr with scheme", env: map[string]string{"ETCD_ADDR": "http://10.0.0.1:4001"}, setting: "addr", source: "ETCD_ADDR", is: ErrInvalid},
		{name: "addr without host", args: []string{"-addr", ":4001"}, setting: "addr", value: ":4001", is: ErrInvalid},
		{name: "addr bad port", args: []string{"-c", "10.0.0.1:70000"}, setting: "addr", source: "-c", is: ErrInvalid},
		{name: "addr named port", args: []string{"-addr", "10.0.0.1:http"}, setting: "addr", is: ErrInvalid},
		{name: "bind bad host", args: []string{"-bind-addr", "a b:1"}, setting: "bind-addr", is: ErrInvalid},
		{name: "bind empty port", args: []string{"-bind-addr", "10.0.0.1:"}, setting: "bind-addr", is: ErrInvalid},
		{name: "peer addr in file", file: "[peer]\naddr = \"10.0.0.1\"", setting: "peer-addr", source: "@F: [peer] addr", is: ErrInvalid},
		{name: "clients listen where peers do", args: []string{"-addr", "127.0.0.1:7001"}, setting: "addr", source: "-addr", is: ErrInvalid},
		{name: "peers listen where clients do", args: []string{"-addr", "127.0.0.1:4001", "-peer-bind-addr", ":4001", "-bind-addr", ":4001"}, setting: "peer-bind-addr", source: "-peer-bind-addr", is: ErrInvalid},

		// TLS.
		{name: "cert without key", args: []string{"-cert-file", crt}, setting: "cert-file", source: "-cert-file", value: crt, is: ErrInvalid},
		{name: "key without cert", env: map[string]string{"ETCD_KEY_FILE": key}, setting: "key-file", source: "ETCD_KEY_FILE", is: ErrInvalid},
		{name: "ca alone", args: []string{"-ca-file", ca}, setting: "ca-file", is: ErrInvalid},
		{name: "peer cert without key", args: []string{"-serverCert", crt}, setting: "peer-cert-file", source: "-serverCert", is: ErrInvalid},
		{name: "missing cert file", args: []string{"-cert-file", "/nonexistent/c.crt", "-key-file", key}, setting: "cert-file", value: "/nonexistent/c.crt", is: os.ErrNotExist},
		{name: "missing peer ca", args: []string{"-peer-ca-file", "/nonexistent/ca", "-peer-cert-file", crt, "-peer-key-file", key}, setting: "peer-ca-file", is: os.ErrNotExist},

		// Files.
		{name: "config missing", args: []string{"-config", "/nonexistent/arbor.toml"}, setting: "config", source: "-config", value: "/nonexistent/arbor.toml", is: os.ErrNotExist},
		{name: "config via env missing", env: map[string]string{"ETCD_CONFIG": "/nonexistent/x.toml"}, setting: "config", source: "ETCD_CONFIG", is: os.ErrNotExist},
		{name: "config not toml", file: "this is = = not toml", setting: "config", source: "@F", is: ErrInvalid},
		{name: "peer not a table", file: `peer = "x"`, setting: "config", source: "@F: peer", is: ErrInvalid},
		{name: "array for a scalar", file: "snapshot_count = [1, 2]", setting: "snapshot-count", source: "@F: snapshot_count", is: ErrInvalid},
		{name: "array of numbers", file: "peers = [1, 2]", setting: "peers", is: ErrInvalid},
		{name: "datetime", file: "name = 1979-05-27T07:32:00Z", setting: "name", is: ErrInvalid},
		{name: "peers file missing", args: []string{"-peers-file", "/nonexistent/peers"}, setting: "peers-file", value: "/nonexistent/peers", is: os.ErrNotExist},

		// Command line shape.
		{name: "unknown flag", args: []string{"-no-such-flag"}, value: "-no-such-flag", is: ErrUnknownFlag},
		{name: "etcd2 flag", args: []string{"--listen-client-urls", "http://x:1"}, value: "-listen-client-urls", is: ErrUnknownFlag},
		{name: "missing value", args: []string{"-name"}, setting: "name", value: "-name", is: ErrInvalid},
		{name: "missing value of alias", args: []string{"-C"}, setting: "peers", value: "-C", is: ErrInvalid},
		{name: "positional", args: []string{"-snapshot", "false"}, value: "false", is: ErrArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			path := ""
			if tc.file != "" {
				path = writeFile(t, "arbor.toml", tc.file+"\n")
				args = append([]string{"-config", path}, args...)
			}
			c, err := Load(args, envOf(tc.env))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if ce.Setting != tc.setting {
				t.Errorf("Setting %q, want %q (%v)", ce.Setting, tc.setting, err)
			}
			if want := strings.ReplaceAll(tc.source, "@F", path); tc.source != "" && ce.Source != want {
				t.Errorf("Source %q, want %q (%v)", ce.Source, want, err)
			}
			if tc.value != "" && ce.Value != tc.value {
				t.Errorf("Value %q, want %q (%v)", ce.Value, tc.value, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			// The message itself names where the value came from.
			if !strings.HasPrefix(err.Error(), "config: ") || (ce.Source != "" && !strings.Contains(err.Error(), ce.Source)) {
				t.Errorf("message %q", err.Error())
			}
		})
	}
}

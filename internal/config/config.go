package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// MaxRequestBytesLimit is the largest -max-request-bytes accepted: a write
// travels as one log entry, and the WAL refuses a record over 64 MiB (and
// peers a message over 64 MiB), which would stop the member. 32 MiB leaves
// room for the key, the query string and the other writes batched with it.
const MaxRequestBytesLimit = 32 << 20

// Config is the resolved configuration of one arbor member. Load fills every
// field; a zero Config is not meaningful.
type Config struct {
	Name    string // member name; never empty, never contains "/"
	DataDir string // as given, or Name+".arbor"; relative paths are relative to the working directory

	// Addr and PeerAddr are the member's primary advertised host:port, the
	// one etcd 0.4 stored in /_etcd/machines: 127.0.0.1:4001 and
	// 127.0.0.1:7001 unless set. BindAddr and PeerBindAddr are the matching
	// listen addresses. The lists below are what to actually listen on and
	// advertise; they agree with these fields when an address was set.
	Addr, BindAddr         string
	PeerAddr, PeerBindAddr string

	// ClientListen and PeerListen are host:port values for net.Listen, in
	// the order of ClientURLs and PeerURLs. Invariant: len(ClientListen) ==
	// len(ClientURLs) and len(PeerListen) == len(PeerURLs); both are 2 by
	// default and 1 when an address was set.
	ClientListen, PeerListen []string
	// ClientURLs and PeerURLs are the advertised URLs: https when the side
	// has a certificate and key, http otherwise.
	ClientURLs, PeerURLs []string

	Peers     []string // peer addresses to join (host:port or http(s)://host:port); from PeersFile when that is set
	PeersFile string
	Discovery string // discovery URL; "" for none

	Snapshot      bool   // take snapshots at all
	SnapshotCount uint64 // applied entries between snapshots; >= 1

	ClusterActiveSize   int     // >= 3
	ClusterRemoveDelay  float64 // seconds, >= 2
	ClusterSyncInterval float64 // seconds, >= 1

	CAFile, CertFile, KeyFile             string // client side; CertFile and KeyFile are both set or both empty
	PeerCAFile, PeerCertFile, PeerKeyFile string // peer side; same rule

	CORS []string // allowed origins; "*" allows any; empty means no CORS headers

	HeartbeatInterval time.Duration // > 0
	ElectionTimeout   time.Duration // >= 2*HeartbeatInterval
	HTTPReadTimeout   time.Duration // 0 means no limit
	HTTPWriteTimeout  time.Duration // 0 means no limit

	MaxRequestBytes     int64         // > 0
	HistorySize         int           // events kept for watchers; >= 1
	HistoryBytes        int64         // keys and values the history holds; 0 means no limit
	MaxWatchers         int           // 0 means no limit
	StreamFlushInterval time.Duration // 0 means each stream event is written at once
	StrictReads         bool          // every GET linearizable
	WALHeldSync         bool          // the WAL's fdatasync keeps its P (wal.HoldSyncs)
	Trace               bool          // serve /debug/pprof on the client port

	ConfigFile string // the TOML file read, "" if none

	Verbose     bool // -v; also true when VeryVerbose is
	VeryVerbose bool // -vv or -vvv
	ShowVersion bool
	ShowHelp    bool
	Force       bool

	// Warnings are messages for the caller to log: deprecated flag names,
	// etcd 0.4 settings arbor ignores, conflicting inputs it resolved.
	Warnings []string
}

// ClientTLS reports whether the client port serves https.
func (c *Config) ClientTLS() bool { return c.CertFile != "" && c.KeyFile != "" }

// PeerTLS reports whether the peer port serves https.
func (c *Config) PeerTLS() bool { return c.PeerCertFile != "" && c.PeerKeyFile != "" }

// Sentinel causes carried by *Error, for errors.Is.
var (
	ErrUnknownFlag = errors.New("unknown flag (run with -h for the list)")
	ErrUnknownKey  = errors.New("unknown key")
	ErrArgument    = errors.New("unexpected argument (flags only; boolean flags take -flag=false)")
	ErrInvalid     = errors.New("invalid value")
)

// Error is a configuration problem: which setting, where the value came
// from, the value, and why it is wrong.
type Error struct {
	Setting string // canonical flag name without the dash ("snapshot-count"); "" when no setting applies
	Source  string // where the value came from: "-snapshotCount", "ETCD_SNAPSHOT_COUNT", "/etc/arbor.toml: [cluster] active_size"
	Value   string
	Err     error // the reason; wraps ErrInvalid for bad values
}

func (e *Error) Error() string {
	switch {
	case e.Source == "" && e.Value == "":
		return "config: " + e.Err.Error()
	case e.Value == "":
		return fmt.Sprintf("config: %s: %v", e.Source, e.Err)
	}
	return fmt.Sprintf("config: %s %q: %v", e.Source, e.Value, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// invalid builds the reason of a bad value so that errors.Is(err, ErrInvalid) holds.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Load resolves the configuration from args (without the program name), the
// environment as seen through getenv (nil means an empty environment) and the
// TOML file named by -config, ETCD_CONFIG or ETCD_CONFIG_FILE. Each setting
// takes the first of flag, environment variable, file and default that gives
// it. An empty environment variable counts as unset, as in etcd 0.4.
//
// With -h or -version, Load returns after parsing the flags: the rest is not
// read or checked, so help and version work whatever else is broken.
//
// The error, when not nil, is an *Error naming the setting, the flag,
// variable or file key that gave the value, and the value.
func Load(args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	st := newState()

	fs := newFlagSet(st)
	if err := fs.Parse(args); err != nil {
		return nil, st.flagError(err)
	}
	if rest := fs.Args(); len(rest) > 0 {
		return nil, &Error{Source: "command line", Value: rest[0], Err: ErrArgument}
	}
	st.warnDeprecatedFlags()

	c := &Config{}
	if st.flagBool("h") || st.flagBool("version") {
		c.ShowHelp = st.flagBool("h")
		c.ShowVersion = st.flagBool("version")
		return c, nil
	}

	st.readEnv(getenv)
	path, where := st.configPath()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &Error{Setting: "config", Source: where, Value: path, Err: err}
		}
		if err := st.readFile(path, data); err != nil {
			return nil, err
		}
	}
	c.ConfigFile = path

	r := &resolver{st: st}
	r.fill(c)
	if r.err != nil {
		return nil, r.err
	}
	c.Warnings = st.warnings
	return c, nil
}

// state collects the raw values each source gave, before any is chosen.
type state struct {
	flags, env, file map[string]raw // by canonical setting name
	usedAliases      []string       // deprecated flag names seen, in order
	flagErr          error          // a typed error raised inside flag.Value.Set
	warnings         []string
}

// raw is one source's text for one setting.
type raw struct {
	src   source
	where string   // as Error.Source prints it
	text  string   // the value; lists joined with commas
	list  []string // list settings from a TOML array, kept apart so commas inside stay
	isArr bool
}

type source int

const (
	srcDefault source = iota
	srcFile
	srcEnv
	srcFlag
)

func newState() *state {
	return &state{flags: map[string]raw{}, env: map[string]raw{}, file: map[string]raw{}}
}

func (st *state) warn(format string, args ...any) {
	st.warnings = append(st.warnings, fmt.Sprintf(format, args...))
}

func (st *state) flagBool(name string) bool {
	r, ok := st.flags[name]
	return ok && r.text == "true"
}

// configPath returns the config file named by flag or environment, and
// where it was named.
func (st *state) configPath() (path, where string) {
	if r, ok := st.flags["config"]; ok {
		return r.text, r.where
	}
	if r, ok := st.env["config"]; ok {
		return r.text, r.where
	}
	return "", ""
}

// readEnv records every setting's environment variable. When two spellings
// of one setting are both set and disagree, the first listed wins.
func (st *state) readEnv(getenv func(string) string) {
	for _, s := range settings {
		var got *raw
		for _, name := range s.env {
			v := strings.TrimSpace(getenv(name))
			if v == "" {
				continue
			}
			if got == nil {
				got = &raw{src: srcEnv, where: name, text: v}
				continue
			}
			if v != got.text {
				st.warn("%s=%q and %s=%q both set; using %s", got.where, got.text, name, v, got.where)
			}
		}
		if got != nil {
			st.env[s.name] = *got
		}
	}
}

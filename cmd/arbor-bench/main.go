package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// config holds the parsed flags of one run.
type config struct {
	endpoints   []string
	clients     int
	duration    time.Duration
	durationSet bool // -duration given explicitly; bounds -total and fill runs too
	total       int64
	keySize     int
	valueSize   int
	keys        int
	prefix      string
	jsonOnly    bool
	noPreload   bool
	quorum      bool
	timeout     time.Duration
	client      string // "raw" or "std": the HTTP client of put, get and fill
	watchers    int
	watchMode   string
	rate        int
	drain       time.Duration
	rssPID      int
	label       string
	seed        uint64
	cpuProfile  string
	listen      string // null-server only
	// tls verifies https endpoints: the -ca-file pool, or nil for the
	// system's roots.
	tls *tls.Config

	// progress, when not nil, receives occasional progress lines (fill only).
	progress io.Writer
}

const usageText = `usage: arbor-bench [flags] put|get|watch|fill
       arbor-bench table FILE.jsonl...
       arbor-bench -listen ADDR null-server

Load generator for the etcd v2 keys API (arbor or etcd --enable-v2).
  put    PUT random keys of the key space for -duration (or -total ops)
  get    preload the key space (unless -no-preload), then GET random keys
  watch  -watchers recursive watchers on -prefix while one writer issues
         -rate writes/s; checks every watcher sees every write once, in order
  fill   write -keys distinct keys once each as fast as -clients allow
  table  print a Markdown comparison of JSON result lines (labels in order
         of appearance; the ratio column is first/second)
  null-server
         serve a do-nothing v2 API on -listen (parse the request, answer an
         etcd-shaped body, store nothing): the HTTP floor put and get are
         read against
Output: a human summary, then one JSON line (only the JSON with -json-only).
Flags may come before or after the mode.

`

func main() {
	// The tool shares the CPUs with the server it measures. Its live heap
	// is small, so collecting less often costs little memory and leaves
	// more CPU to the server (with a thousand watchers, marking their
	// goroutine stacks was a tenth of the tool's CPU).
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program behind main, callable from tests. It returns the
// exit status: 0 after a completed run (failed requests are results, not
// failures), 1 when the run could not be carried out, 2 on bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, mode, rest, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "arbor-bench: %v\n", err)
		return 2
	}
	if mode == "null-server" {
		if err := runNullServer(ctx, cfg.listen, stderr); err != nil {
			fmt.Fprintf(stderr, "arbor-bench: null-server: %v\n", err)
			return 1
		}
		return 0
	}
	if mode == "table" {
		if err := runTable(rest, stdout); err != nil {
			fmt.Fprintf(stderr, "arbor-bench: table: %v\n", err)
			return 1
		}
		return 0
	}
	if !cfg.jsonOnly {
		cfg.progress = stderr
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "arbor-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "arbor-bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	var res *result
	var human func(io.Writer)
	switch mode {
	case "put", "get", "fill":
		res, human, err = runLoad(ctx, cfg, mode)
	case "watch":
		res, human, err = runWatch(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "arbor-bench: %s: %v\n", mode, err)
		return 1
	}
	if !cfg.jsonOnly {
		human(stdout)
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "arbor-bench: encode result: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return 0
}

// parseArgs reads flags, the mode, and flags after the mode. rest holds the
// arguments left after the mode (the files of "table").
func parseArgs(args []string, stderr io.Writer) (*config, string, []string, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("arbor-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var endpoints string
	var seed int64
	fs.StringVar(&endpoints, "endpoints", "http://127.0.0.1:2379", "comma-separated client URLs; clients and watchers are spread round-robin over them")
	fs.IntVar(&cfg.clients, "clients", 64, "concurrent clients, each issuing requests back-to-back")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to issue requests (put, get, watch); with -total or fill, an upper bound only when given")
	fs.Int64Var(&cfg.total, "total", 0, "stop after this many requests instead of after -duration (put, get)")
	fs.IntVar(&cfg.keySize, "key-size", 8, "length of a key's name under -prefix (zero-padded number; raised to fit -keys)")
	fs.IntVar(&cfg.valueSize, "value-size", 256, "value size in bytes")
	fs.IntVar(&cfg.keys, "keys", 100000, "key space size (put, get, watch) or number of keys to write (fill)")
	fs.StringVar(&cfg.prefix, "prefix", "/bench", "directory the keys live under (and the watched directory)")
	fs.BoolVar(&cfg.jsonOnly, "json-only", false, "print only the final JSON line")
	fs.BoolVar(&cfg.noPreload, "no-preload", false, "get: do not write missing keys of the key space first")
	fs.BoolVar(&cfg.quorum, "quorum", false, "get: linearizable reads (quorum=true)")
	fs.StringVar(&cfg.client, "client", "raw", "HTTP client for put, get and fill: raw (one lean keep-alive connection per client, like wrk) or std (net/http); https always uses net/http")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout (watch: also how long to wait for watchers to connect)")
	fs.IntVar(&cfg.watchers, "watchers", 1000, "watch: number of watchers")
	fs.StringVar(&cfg.watchMode, "watch-mode", "stream", "watch: longpoll (wait=true, re-issued with waitIndex) or stream (stream=true)")
	fs.IntVar(&cfg.rate, "rate", 200, "watch: writes per second")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "watch: after the last write, how long to wait for watchers to catch up")
	fs.IntVar(&cfg.rssPID, "check-rss-pid", 0, "fill: print the RSS of this process (the server) at the end")
	fs.StringVar(&cfg.label, "label", "", "name of the system under test, copied into the JSON line (e.g. arbor, etcd)")
	fs.Int64Var(&seed, "seed", 1, "seed for keys and values")
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:2379", "null-server: address to listen on")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of arbor-bench itself to this file")
	var caFile string
	fs.StringVar(&caFile, "ca-file", "", "https endpoints: PEM CA certificate(s) to verify them with (default: the system's roots)")

	if err := fs.Parse(args); err != nil {
		return nil, "", nil, err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return nil, "", nil, errors.New("missing mode (put, get, watch, fill, null-server or table)")
	}
	mode := fs.Arg(0)
	rest := fs.Args()[1:]
	switch mode {
	case "put", "get", "watch", "fill", "null-server":
		if err := fs.Parse(rest); err != nil {
			return nil, "", nil, err
		}
		if fs.NArg() > 0 {
			return nil, "", nil, fmt.Errorf("unexpected argument %q after %s", fs.Arg(0), mode)
		}
	case "table":
		if len(rest) == 0 {
			return nil, "", nil, errors.New("table: need at least one JSON lines file")
		}
		return cfg, mode, rest, nil
	default:
		return nil, "", nil, fmt.Errorf("unknown mode %q (want put, get, watch, fill, null-server or table)", mode)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "duration" {
			cfg.durationSet = true
		}
	})
	cfg.seed = uint64(seed)
	for _, e := range strings.Split(endpoints, ",") {
		e = strings.TrimRight(strings.TrimSpace(e), "/")
		if e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			e = "http://" + e
		}
		cfg.endpoints = append(cfg.endpoints, e)
	}
	cfg.prefix = "/" + strings.Trim(cfg.prefix, "/")
	switch {
	case len(cfg.endpoints) == 0:
		return nil, "", nil, errors.New("-endpoints: need at least one URL")
	case cfg.clients < 1:
		return nil, "", nil, errors.New("-clients must be at least 1")
	case cfg.duration <= 0:
		return nil, "", nil, errors.New("-duration must be positive")
	case cfg.total < 0:
		return nil, "", nil, errors.New("-total must not be negative")
	case cfg.keys < 1:
		return nil, "", nil, errors.New("-keys must be at least 1")
	case cfg.keySize < 1 || cfg.keySize > 200:
		return nil, "", nil, errors.New("-key-size must be between 1 and 200")
	case cfg.valueSize < 1:
		return nil, "", nil, errors.New("-value-size must be at least 1")
	case cfg.timeout <= 0:
		return nil, "", nil, errors.New("-timeout must be positive")
	case cfg.client != "raw" && cfg.client != "std":
		return nil, "", nil, errors.New("-client must be raw or std")
	case cfg.prefix == "/":
		return nil, "", nil, errors.New("-prefix must name a directory below the root")
	case mode == "watch" && cfg.watchers < 1:
		return nil, "", nil, errors.New("-watchers must be at least 1")
	case mode == "watch" && cfg.rate < 1:
		return nil, "", nil, errors.New("-rate must be at least 1")
	case mode == "watch" && cfg.watchMode != "longpoll" && cfg.watchMode != "stream":
		return nil, "", nil, fmt.Errorf("-watch-mode %q: want longpoll or stream", cfg.watchMode)
	case cfg.drain < 0:
		return nil, "", nil, errors.New("-drain must not be negative")
	}
	if caFile != "" {
		tc, err := caConfig(caFile)
		if err != nil {
			return nil, "", nil, err
		}
		cfg.tls = tc
	}
	return cfg, mode, nil, nil
}

// caConfig is a TLS client configuration that trusts the CA certificates
// in PEM file path.
func caConfig(path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca-file %s: no PEM certificate in it", path)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// keyWidth is the number of digits of every key name: -key-size, or more if
// the key space needs more digits to stay distinct.
func keyWidth(cfg *config) int {
	return max(cfg.keySize, len(fmt.Sprint(cfg.keys-1)))
}

// keyName is the name of key i of the key space, zero-padded to width.
func keyName(i int64, width int) string {
	return fmt.Sprintf("%0*d", width, i)
}

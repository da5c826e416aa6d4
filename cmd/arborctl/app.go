package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/arbor-kv/arbor/client"
)

// defaultEndpoints is etcdctl's default: both of etcd's historical client
// ports on this machine.
const defaultEndpoints = "http://127.0.0.1:2379,http://127.0.0.1:4001"

// app is one invocation of arborctl: its I/O, environment and global
// flags. Tests build one with buffers and a fake environment.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// environ is the environment exec-watch passes on to its command.
	environ func() []string
	// ctx ends on SIGINT. Watches treat that as a normal end (exit 0).
	ctx context.Context
	// readPassword prompts for and reads a password without echo.
	readPassword func(prompt string) (string, error)

	// Global flags.
	debug        bool
	noSync       bool
	output       string
	peers        string
	endpoint     string
	endpoints    string
	certFile     string
	keyFile      string
	caFile       string
	username     string
	timeout      time.Duration
	totalTimeout time.Duration
}

// interrupted says whether the user pressed Ctrl-C.
func (a *app) interrupted() bool { return a.ctx.Err() != nil }

// commandContext bounds a non-watch command by --total-timeout.
func (a *app) commandContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.ctx, a.totalTimeout)
}

// endpointList resolves the endpoints the way etcdctl does: the first
// non-empty of --endpoints, ETCDCTL_ENDPOINTS, --endpoint,
// ETCDCTL_ENDPOINT, --peers, ETCDCTL_PEERS, else the default.
func (a *app) endpointList() []string {
	s := ""
	for _, v := range []string{
		a.endpoints, a.getenv("ETCDCTL_ENDPOINTS"),
		a.endpoint, a.getenv("ETCDCTL_ENDPOINT"),
		a.peers, a.getenv("ETCDCTL_PEERS"),
		defaultEndpoints,
	} {
		if v != "" {
			s = v
			break
		}
	}
	return strings.Split(s, ",")
}

// tlsConfig builds the TLS settings from --cert-file, --key-file and
// --ca-file (or ETCDCTL_CERT_FILE, ETCDCTL_KEY_FILE, ETCDCTL_CA_FILE); nil
// when none is given.
func (a *app) tlsConfig() (*tls.Config, error) {
	pick := func(flag, env string) string {
		if flag != "" {
			return flag
		}
		return a.getenv(env)
	}
	certFile := pick(a.certFile, "ETCDCTL_CERT_FILE")
	keyFile := pick(a.keyFile, "ETCDCTL_KEY_FILE")
	caFile := pick(a.caFile, "ETCDCTL_CA_FILE")
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificates found", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// credentials splits --username (or ETCDCTL_USERNAME) "user:password",
// prompting for the password when there is no colon.
func (a *app) credentials() (user, pass string, err error) {
	u := a.username
	if u == "" {
		u = a.getenv("ETCDCTL_USERNAME")
	}
	if u == "" {
		return "", "", nil
	}
	if user, pass, ok := strings.Cut(u, ":"); ok {
		return user, pass, nil
	}
	pass, err = a.readPassword("Password: ")
	return u, pass, err
}

// newClient builds the client from the global flags; without --no-sync it
// first replaces the endpoints with those the cluster publishes, as
// etcdctl does. With --debug it narrates on stderr, in etcdctl's words.
func (a *app) newClient(sync bool) (*client.Client, error) {
	tlsCfg, err := a.tlsConfig()
	if err != nil {
		return nil, failf(exitBadArgs, "%v\n", err)
	}
	user, pass, err := a.credentials()
	if err != nil {
		return nil, failf(exitBadArgs, "%v\n", err)
	}
	cfg := client.Config{
		Endpoints: a.endpointList(),
		Timeout:   a.timeout,
		TLS:       tlsCfg,
		Username:  user,
		Password:  pass,
	}
	if a.debug {
		cfg.Trace = a.printCurl
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, failf(exitBadArgs, "%v\n", err)
	}
	if sync && !a.noSync {
		if a.debug {
			fmt.Fprintf(a.stderr, "start to sync cluster using endpoints(%s)\n", strings.Join(c.Endpoints(), ","))
		}
		ctx, cancel := a.commandContext()
		err := c.Sync(ctx)
		cancel()
		switch {
		case errors.Is(err, client.ErrNoEndpoints):
			fmt.Fprintf(a.stderr, "etcd cluster has no published client endpoints.\n")
			fmt.Fprintf(a.stderr, "Try '--no-sync' if you want to access non-published client endpoints(%s).\n", strings.Join(c.Endpoints(), ","))
			return nil, a.fail(exitServerError, err)
		case err != nil && (isConnectionError(err) || a.interrupted()):
			return nil, a.fail(exitBadConnection, err)
		}
		// Any other failure (an old server without /v2/members, say)
		// leaves the given endpoints in place.
		if a.debug {
			fmt.Fprintf(a.stderr, "got endpoints(%s) after sync\n", strings.Join(c.Endpoints(), ","))
		}
	}
	if a.debug {
		fmt.Fprintf(a.stderr, "Cluster-Endpoints: %s\n", strings.Join(c.Endpoints(), ", "))
	}
	return c, nil
}

// printCurl shows a request as the curl command that repeats it.
func (a *app) printCurl(r client.TraceRequest) {
	line := fmt.Sprintf("cURL Command: curl -X %s %s", r.Method, r.URL)
	if r.HasBody {
		line += fmt.Sprintf(" -d %q", r.Body)
	}
	fmt.Fprintln(a.stderr, line)
}

// keyValueArgs connects (and syncs) first, as etcdctl does, then reads the
// <key> [value] arguments of mk, set and update.
func (a *app) keyValueArgs(args []string) (c *client.Client, key, value string, err error) {
	if c, key, err = a.keyClient(args); err != nil {
		return nil, "", "", err
	}
	if value, err = a.valueArg(args, 1); err != nil {
		return nil, "", "", err
	}
	return c, key, value, nil
}

// valueArg is args[i], or else all of stdin (so that "mk /k < file"
// works), as etcdctl reads it.
func (a *app) valueArg(args []string, i int) (string, error) {
	if i < len(args) {
		return args[i], nil
	}
	b, err := io.ReadAll(a.stdin)
	if err != nil || len(b) == 0 {
		return "", failf(exitBadArgs, "Error:  value required\n")
	}
	return string(b), nil
}

// keyArg is the first argument, which every key command requires.
// keyClient connects (and syncs) for a command on the key in args[0]: like
// etcdctl, before it looks at the arguments, so a missing key is reported
// only once the endpoints answered.
func (a *app) keyClient(args []string) (*client.Client, string, error) {
	c, err := a.newClient(true)
	if err != nil {
		return nil, "", err
	}
	key, err := keyArg(args)
	if err != nil {
		return nil, "", err
	}
	return c, key, nil
}

func keyArg(args []string) (string, error) {
	if len(args) == 0 {
		return "", failf(exitBadArgs, "Error:  key required\n")
	}
	return args[0], nil
}

// readPasswordLine reads a line from r (the fallback when the terminal's
// echo cannot be turned off).
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

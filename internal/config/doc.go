// Package config resolves the arbor server's configuration from command-line
// flags, ETCD_* environment variables and a TOML file, with etcd 0.4's names
// for all three, and checks it before anything starts.
//
// It owns: the table of settings (flag names, deprecated aliases,
// environment spellings, file keys, defaults), precedence (flag >
// environment > file > default, per setting), value syntax and bounds, the
// choice of listen addresses and advertised URLs, and the help text. It does
// not open listeners, create the data directory, load certificates or log:
// the caller does that with the resolved Config, and logs Config.Warnings.
//
// One table (settings.go) drives flags, environment, file keys and Usage, so
// a setting added there is accepted everywhere and documented in -h. The
// flags are parsed first into raw text (flag.FlagSet with ContinueOnError,
// nothing printed), then the environment and the file; only then is each
// setting's winning text parsed and checked, so a value is judged the same
// way whichever source gave it, and errors name that source:
//
//	config: ETCD_SNAPSHOTCOUNT "ten": invalid value: want a whole number
//	config: /etc/arbor.toml: [cluster] active_size "2": invalid value: must be at least 3
//
// Differences from etcd 0.4, on purpose: /etc/etcd/etcd.conf is not read
// unless named; the data directory defaults to <name>.arbor and the name to
// "default" (not the host name); the listen address defaults to the
// advertised one rather than every interface; a port-only listen address
// (":4001") is allowed; unknown file keys are errors; both env spellings
// (code and documentation) are read.
//
// Usage from main:
//
//	cfg, err := config.Load(os.Args[1:], os.Getenv)
//	if err != nil {
//		fmt.Fprintln(os.Stderr, err)
//		os.Exit(2)
//	}
//	if cfg.ShowHelp {
//		config.Usage(os.Stdout)
//		return
//	}
//	for _, w := range cfg.Warnings {
//		logger.Warn(w)
//	}
package config

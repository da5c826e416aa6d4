package config

import (
	"flag"
	"io"
	"slices"
	"strconv"
	"strings"
)

// newFlagSet defines every flag name of every setting on a private FlagSet
// that records raw text into st. Nothing is parsed into Config here, so the
// same text goes through the same checks whichever source gave it.
func newFlagSet(st *state) *flag.FlagSet {
	fs := flag.NewFlagSet("arbor", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Load reports errors; Usage prints help
	fs.Usage = func() {}
	for _, s := range settings {
		names := append([]string{s.name}, s.alt...)
		for _, n := range names {
			fs.Var(&flagValue{st: st, s: s, as: n}, n, s.usage)
		}
		for _, n := range s.aliases {
			fs.Var(&flagValue{st: st, s: s, as: n, deprecated: true}, n, "deprecated: use -"+s.name)
		}
	}
	return fs
}

// flagValue is the flag.Value behind one flag name.
type flagValue struct {
	st         *state
	s          *setting
	as         string // the name this value is registered under
	deprecated bool
}

func (v *flagValue) String() string { return "" }

// IsBoolFlag lets boolean settings be given as a bare -x.
func (v *flagValue) IsBoolFlag() bool { return v.s.kind == kindBool }

// Set records the text; a later occurrence of any name of the same setting
// replaces an earlier one, so the command line reads left to right.
func (v *flagValue) Set(text string) error {
	if v.s.kind == kindBool {
		b, err := strconv.ParseBool(text)
		if err != nil {
			e := &Error{Setting: v.s.name, Source: "-" + v.as, Value: text, Err: invalid("want true or false")}
			if v.st.flagErr == nil {
				v.st.flagErr = e
			}
			return e
		}
		text = strconv.FormatBool(b)
	}
	v.st.flags[v.s.name] = raw{src: srcFlag, where: "-" + v.as, text: text}
	if v.deprecated {
		v.st.usedAliases = append(v.st.usedAliases, v.as)
	}
	return nil
}

// flagError turns the flag package's error into an *Error.
func (st *state) flagError(err error) error {
	if st.flagErr != nil {
		return st.flagErr
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return &Error{Source: "command line", Value: name, Err: ErrUnknownFlag}
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return &Error{Setting: canonical(strings.TrimLeft(name, "-")), Source: "command line", Value: name, Err: invalid("flag needs a value")}
	}
	return &Error{Err: err}
}

// warnDeprecatedFlags adds one warning per deprecated name used, in the
// words etcd 0.4 printed.
func (st *state) warnDeprecatedFlags() {
	seen := map[string]bool{}
	for _, n := range st.usedAliases {
		if seen[n] {
			continue
		}
		seen[n] = true
		st.warn("[deprecated] use -%s, not -%s", canonical(n), n)
	}
}

// canonical maps any flag name (alternate or deprecated) to its setting's
// canonical name.
func canonical(flagName string) string {
	for _, s := range settings {
		if s.name == flagName || slices.Contains(s.alt, flagName) || slices.Contains(s.aliases, flagName) {
			return s.name
		}
	}
	return flagName
}

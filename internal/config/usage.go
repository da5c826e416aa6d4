package config

import (
	"fmt"
	"io"
	"strings"
)

// Usage writes the help text: every flag, grouped as etcd 0.4 grouped them,
// with its default, environment variables and config-file key, then the
// deprecated names. It is generated from the same table Load uses, so it
// cannot drift from what Load accepts.
func Usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`Usage:
  arbor [-name <name>] [-data-dir <path>] [options]
  arbor -h | -help
  arbor -version

Every setting can come from a flag, an ETCD_* environment variable or the TOML
file named by -config; a flag beats the environment, which beats the file,
which beats the default. Flags take one dash or two (-name or --name), and a
value after '=' or a space; boolean flags take -flag or -flag=false.
`)
	for _, g := range groupOrder {
		fmt.Fprintf(&b, "\n%s:\n", g)
		for _, s := range settings {
			if s.group != g {
				continue
			}
			writeSetting(&b, s)
		}
	}

	b.WriteString("\nDeprecated names (still accepted, with a warning):\n")
	for _, s := range settings {
		for _, a := range s.aliases {
			fmt.Fprintf(&b, "  %-26s use -%s\n", "-"+a, s.name)
		}
	}
	_, _ = io.WriteString(w, b.String())
}

func writeSetting(b *strings.Builder, s *setting) {
	names := "-" + s.name
	for _, a := range s.alt {
		names += ", -" + a
	}
	if s.arg != "" {
		names += " " + s.arg
	}
	fmt.Fprintf(b, "  %s\n", names)
	writeWrapped(b, s.usage, "      ", 78)

	var facts []string
	if s.kind != kindIgnored {
		def := s.defShow
		if def == "" {
			def = s.def
			if s.kind == kindString {
				def = fmt.Sprintf("%q", def)
			}
		}
		facts = append(facts, "default "+def)
	}
	if len(s.env) > 0 {
		facts = append(facts, "env "+strings.Join(s.env, " or "))
	}
	if s.toml != "" {
		facts = append(facts, "file "+displayKey(s.toml))
	}
	if len(s.env) == 0 && s.toml == "" {
		facts = append(facts, "flag only")
	}
	writeWrapped(b, "("+strings.Join(facts, "; ")+")", "      ", 78)
}

// writeWrapped writes text indented, breaking lines between words so that
// none is longer than width where the words allow. A table name stays on
// the line of its key ("[peer] addr").
func writeWrapped(b *strings.Builder, text, indent string, width int) {
	text = strings.ReplaceAll(text, "] ", "]\x00")
	line := ""
	for _, w := range strings.Fields(text) {
		w = strings.ReplaceAll(w, "\x00", " ")
		if line != "" && len(indent)+len(line)+1+len(w) > width {
			b.WriteString(indent + line + "\n")
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	b.WriteString(indent + line + "\n")
}

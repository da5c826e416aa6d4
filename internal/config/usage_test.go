package config

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// mentions reports whether text names the flag -name as a whole word (so
// that -c is not found inside -cors).
func mentions(text, name string) bool {
	re := regexp.MustCompile(`(^|[\s,(])-` + regexp.QuoteMeta(name) + `([\s,=)]|$)`)
	return re.MatchString(text)
}

func TestUsageMentionsEveryFlag(t *testing.T) {
	var b strings.Builder
	Usage(&b)
	out := b.String()
	n := 0
	newFlagSet(newState()).VisitAll(func(f *flag.Flag) {
		n++
		if !mentions(out, f.Name) {
			t.Errorf("Usage does not mention -%s", f.Name)
		}
	})
	if n < 60 {
		t.Errorf("only %d flags defined; the table looks truncated", n)
	}
	for _, s := range settings {
		for _, e := range s.env {
			if !strings.Contains(out, e) {
				t.Errorf("Usage does not mention %s", e)
			}
		}
		if s.toml != "" && !strings.Contains(out, displayKey(s.toml)) {
			t.Errorf("Usage does not mention file key %s", displayKey(s.toml))
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 80 {
			t.Errorf("line longer than 80 columns: %q", line)
		}
	}
}

// TestDocsMentionEverySetting keeps docs/configuration.md in step with the
// table: every flag name, alias, environment variable and file key.
func TestDocsMentionEverySetting(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, s := range settings {
		names := append(append([]string{s.name}, s.alt...), s.aliases...)
		for _, n := range names {
			if !strings.Contains(doc, "`-"+n+"`") {
				t.Errorf("docs/configuration.md does not mention `-%s`", n)
			}
		}
		for _, e := range s.env {
			if !strings.Contains(doc, "`"+e+"`") {
				t.Errorf("docs/configuration.md does not mention `%s`", e)
			}
		}
		if s.toml != "" && !strings.Contains(doc, "`"+displayKey(s.toml)+"`") {
			t.Errorf("docs/configuration.md does not mention `%s`", displayKey(s.toml))
		}
	}
}

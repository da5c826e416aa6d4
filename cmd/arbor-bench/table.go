package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// metric is one row of the comparison table for a mode.
type metric struct {
	key   string  // JSON field
	name  string  // row title; says which direction is better
	scale float64 // multiply the value by this before printing
	unit  string  // suffix after the number
}

// tableMetrics lists, per mode, the fields worth comparing. Modes written by
// scripts/perf.sh itself (restart) are included.
var tableMetrics = map[string][]metric{
	"put": {
		{"ops_per_sec", "ops/s (higher is better)", 1, ""},
		{"p50_ms", "p50 ms", 1, ""},
		{"p99_ms", "p99 ms", 1, ""},
		{"errors", "errors", 1, ""},
	},
	"watch": {
		{"delivered_fraction", "delivered (higher is better)", 100, "%"},
		{"p50_ms", "delivery p50 ms", 1, ""},
		{"p99_ms", "delivery p99 ms", 1, ""},
		{"lost_events", "events not delivered by the end", 1, ""},
		{"watchers_caught_up", "watchers that saw the last write", 1, ""},
		{"index_cleared_401", "401 index cleared", 1, ""},
		{"writes_per_sec", "writes/s achieved", 1, ""},
		{"errors", "errors", 1, ""},
	},
	"fill": {
		{"duration_s", "total s", 1, ""},
		{"ops_per_sec", "ops/s (higher is better)", 1, ""},
		{"p50_ms", "p50 ms", 1, ""},
		{"p99_ms", "p99 ms", 1, ""},
		{"max_ms", "max ms", 1, ""},
		{"stalls_100ms", "writes > 100 ms", 1, ""},
		{"rss_kb", "RSS MiB", 1.0 / 1024, ""},
		{"errors", "errors", 1, ""},
	},
	"restart": {
		{"restart_s", "restart until GET answers, s", 1, ""},
		{"rss_kb", "RSS after restart MiB", 1.0 / 1024, ""},
	},
}

func init() { tableMetrics["get"] = tableMetrics["put"] }

// runTable prints a Markdown table comparing the runs in the JSON lines
// files: one column per label in order of first appearance and, when there
// are two or more labels, the ratio of the first two (first/second). Lines that are not
// JSON objects are skipped, so a whole log can be passed in.
func runTable(files []string, out io.Writer) error {
	type row = map[string]any
	var cases []string
	var labels []string
	byCase := map[string]map[string]row{}
	modeOf := map[string]string{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var r row
			if json.Unmarshal([]byte(line), &r) != nil {
				continue
			}
			mode, _ := r["mode"].(string)
			c, _ := r["case"].(string)
			if mode == "" || c == "" {
				continue
			}
			label, _ := r["label"].(string)
			if label == "" {
				label = "run"
			}
			if byCase[c] == nil {
				byCase[c] = map[string]row{}
				cases = append(cases, c)
				modeOf[c] = mode
			}
			if !slices.Contains(labels, label) {
				labels = append(labels, label)
			}
			byCase[c][label] = r // a later run of the same case wins
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(cases) == 0 {
		return fmt.Errorf("no result lines in %s", strings.Join(files, ", "))
	}

	ratio := len(labels) >= 2
	head := "| case | metric |"
	sep := "|---|---|"
	for _, l := range labels {
		head += " " + l + " |"
		sep += "---:|"
	}
	if ratio {
		head += " " + labels[0] + "/" + labels[1] + " |"
		sep += "---:|"
	}
	fmt.Fprintln(out, head)
	fmt.Fprintln(out, sep)
	for _, c := range cases {
		for _, m := range tableMetrics[modeOf[c]] {
			vals := make([]float64, len(labels))
			have := make([]bool, len(labels))
			found := false
			for i, l := range labels {
				if v, ok := byCase[c][l][m.key].(float64); ok {
					vals[i], have[i], found = v*m.scale, true, true
				}
			}
			if !found {
				continue
			}
			line := "| " + c + " | " + m.name + " |"
			for i := range labels {
				if have[i] {
					line += " " + formatNumber(vals[i]) + m.unit + " |"
				} else {
					line += " – |"
				}
			}
			if ratio {
				if have[0] && have[1] && vals[1] != 0 {
					line += fmt.Sprintf(" %.2f |", vals[0]/vals[1])
				} else {
					line += " – |"
				}
			}
			fmt.Fprintln(out, line)
		}
	}
	return nil
}

// formatNumber prints v with a precision that suits its size.
func formatNumber(v float64) string {
	switch a := max(v, -v); {
	case a == float64(int64(a)):
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

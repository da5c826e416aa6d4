package config

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Value parsers. Each takes the text of one source and returns the value or
// a reason (wrapping ErrInvalid); the caller adds the setting and source.

// parseBool reads a boolean. From the environment, anything but "0" and
// "false" (any case) is true, as etcd 0.4 read it; flags and the file have
// already been checked to be true or false.
func parseBool(r raw) bool {
	if r.src == srcEnv {
		return r.text != "0" && !strings.EqualFold(r.text, "false")
	}
	b, _ := strconv.ParseBool(r.text)
	return b
}

func parseInt(text string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 0)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, invalid("too large")
		}
		return 0, invalid("want a whole number")
	}
	if n < 0 {
		return 0, invalid("must not be negative")
	}
	return int(n), nil
}

func parseUint64(text string) (uint64, error) {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "-") {
		return 0, invalid("must not be negative")
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, invalid("too large")
		}
		return 0, invalid("want a whole number")
	}
	return n, nil
}

// parseDuration reads a bare decimal number in the given unit (etcd 0.4's
// syntax: milliseconds for Raft timing, seconds for HTTP timeouts) or a Go
// duration with its own unit ("150ms", "5m").
func parseDuration(text string, unit time.Duration) (time.Duration, error) {
	t := strings.TrimSpace(text)
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, invalid("want a finite number")
		}
		if f < 0 {
			return 0, invalid("must not be negative")
		}
		d := f * float64(unit)
		if d > math.MaxInt64 {
			return 0, invalid("too large")
		}
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, invalid("want a number of %s or a duration such as 1.5s", unitName(unit))
	}
	if d < 0 {
		return 0, invalid("must not be negative")
	}
	return d, nil
}

func unitName(u time.Duration) string {
	if u == time.Millisecond {
		return "milliseconds"
	}
	return "seconds"
}

// parseSeconds reads seconds as a float64, the type etcd 0.4's cluster
// settings have; a Go duration is accepted too.
func parseSeconds(text string) (float64, error) {
	d, err := parseDuration(text, time.Second)
	if err != nil {
		return 0, err
	}
	return d.Seconds(), nil
}

// byteUnits are the suffixes parseBytes knows, longest first so "MiB" is not
// read as "B".
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// parseBytes reads a byte count: a whole number with an optional unit.
func parseBytes(text string) (int64, error) {
	t := strings.TrimSpace(text)
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, invalid("too large")
		}
		return 0, invalid("want a whole number of bytes, optionally with KiB, MiB or GiB")
	}
	if n < 0 {
		return 0, invalid("must not be negative")
	}
	if n > math.MaxInt64/mult {
		return 0, invalid("too large")
	}
	return n * mult, nil
}

// parseList splits a comma-separated list, trimming blanks around items and
// dropping empty ones ("a, b,," is [a b]). A TOML array is taken item by item.
func parseList(r raw) []string {
	items := r.list
	if !r.isArr {
		items = strings.Split(r.text, ",")
	}
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

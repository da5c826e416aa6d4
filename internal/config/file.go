package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// tables are the TOML tables the file may have; everything else is top level.
var tables = map[string]bool{"peer": true, "cluster": true}

// readFile records the settings a TOML config file gives. Keys are etcd
// 0.4's (addr, [peer] addr, [cluster] active_size, ...) plus arbor's own;
// any other key is an error, so a typo cannot silently leave a default in
// place.
func (st *state) readFile(path string, data []byte) error {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return &Error{Setting: "config", Source: path, Value: "", Err: fmt.Errorf("%w: not valid TOML: %v", ErrInvalid, err)}
	}
	// Keys in order, so that a file with several bad values always reports
	// the same one first.
	var unknown []string
	for _, key := range sortedKeys(doc) {
		val := doc[key]
		if tables[key] {
			tbl, ok := val.(map[string]any)
			if !ok {
				return &Error{Setting: "config", Source: path + ": " + key, Value: fmt.Sprint(val), Err: invalid("want a table [%s]", key)}
			}
			for _, sub := range sortedKeys(tbl) {
				v := tbl[sub]
				full := key + "." + sub
				if err := st.fileValue(path, full, v); err != nil {
					if err == errUnknownKey {
						unknown = append(unknown, full)
						continue
					}
					return err
				}
			}
			continue
		}
		if err := st.fileValue(path, key, val); err != nil {
			if err == errUnknownKey {
				unknown = append(unknown, key)
				continue
			}
			return err
		}
	}
	if len(unknown) > 0 {
		return &Error{Setting: "config", Source: path, Value: strings.Join(unknown, ", "), Err: ErrUnknownKey}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// errUnknownKey marks a key no setting has; readFile gathers them all
// before failing so one run names every typo.
var errUnknownKey = fmt.Errorf("unknown key")

// displayKey renders a dotted key as a reader of the file sees it.
func displayKey(key string) string {
	if t, k, ok := strings.Cut(key, "."); ok {
		return "[" + t + "] " + k
	}
	return key
}

func (st *state) fileValue(path, key string, v any) error {
	s := settingByTOML[key]
	if s == nil {
		return errUnknownKey
	}
	where := path + ": " + displayKey(key)
	r := raw{src: srcFile, where: where}
	switch x := v.(type) {
	case string:
		r.text = x
	case bool:
		r.text = strconv.FormatBool(x)
	case int64:
		r.text = strconv.FormatInt(x, 10)
	case float64:
		r.text = strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		if s.kind != kindList && s.kind != kindIgnored {
			return &Error{Setting: s.name, Source: where, Value: fmt.Sprint(x), Err: invalid("want a single value, not an array")}
		}
		r.isArr = true
		for _, e := range x {
			es, ok := e.(string)
			if !ok {
				return &Error{Setting: s.name, Source: where, Value: fmt.Sprint(x), Err: invalid("want an array of strings")}
			}
			r.list = append(r.list, es)
		}
		r.text = strings.Join(r.list, ",")
	default:
		return &Error{Setting: s.name, Source: where, Value: fmt.Sprint(v), Err: invalid("unsupported TOML type %T", v)}
	}
	// A bool where a number is due, or the reverse, is caught when the
	// text is parsed; the TOML type alone is not checked so that quoted
	// numbers ("10000") keep working as they would from the environment.
	if s.kind == kindBool {
		if _, isBool := v.(bool); !isBool {
			if _, err := strconv.ParseBool(r.text); err != nil {
				return &Error{Setting: s.name, Source: where, Value: r.text, Err: invalid("want true or false")}
			}
		}
	}
	st.file[s.name] = r
	return nil
}

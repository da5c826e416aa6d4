package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/wal"
)

// minimalDataDir is a data dir as a member leaves it after its first
// entry: a WAL with an identity and the bootstrap conf change.
func minimalDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	w, err := wal.Create(filepath.Join(dir, "wal"), []byte(`{"memberID":7,"clusterID":9,"name":"m"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cc, _ := (&raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: 7}).Marshal()
	if err := w.Save(raftpb.HardState{Term: 1, Vote: 7, Commit: 1}, []raftpb.Entry{{Index: 1, Term: 1, Type: raftpb.EntryConfChange, Data: cc}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBackupRefusals(t *testing.T) {
	data := minimalDataDir(t)
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "something"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := func() string { return filepath.Join(t.TempDir(), "backup") }
	for name, tc := range map[string]struct {
		args   []string
		stderr string
	}{
		"no data dir":          {[]string{"--backup-dir", fresh()}, "Error:  --data-dir is required\n"},
		"no backup dir":        {[]string{"--data-dir", data}, "Error:  --backup-dir is required\n"},
		"stray argument":       {[]string{"--data-dir", data, "--backup-dir", fresh(), "extra"}, "Error:  backup takes no arguments"},
		"missing data dir":     {[]string{"--data-dir", filepath.Join(t.TempDir(), "nope"), "--backup-dir", fresh()}, "Error:  not an arbor data dir: "},
		"not a data dir":       {[]string{"--data-dir", t.TempDir(), "--backup-dir", fresh()}, "Error:  not an arbor data dir: "},
		"backup dir not empty": {[]string{"--data-dir", data, "--backup-dir", full}, "Error:  backup dir is not empty: "},
		"backup dir in source": {[]string{"--data-dir", data, "--backup-dir", filepath.Join(data, "b")}, "Error:  backup dir is not empty: "},
		"separate wal dir":     {[]string{"--data-dir", data, "--wal-dir", t.TempDir(), "--backup-dir", fresh()}, "has no separate WAL dir"},
		"separate backup wal":  {[]string{"--data-dir", data, "--backup-dir", fresh(), "--backup-wal-dir", t.TempDir()}, "has no separate WAL dir"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, nil, nil, "", append([]string{"backup"}, tc.args...)...)
			if r.code != exitBadArgs || r.stdout != "" || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("got %+v, want exit %d and stderr containing %q", r, exitBadArgs, tc.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, "b")); !os.IsNotExist(err) {
		t.Fatal("a refused backup wrote into the source")
	}
}

// The WAL dir flags are accepted when they name the one place arbor keeps
// a WAL, and --with-v3 is accepted as a no-op, so etcdctl scripts work.
func TestBackupAcceptsEtcdctlSpellings(t *testing.T) {
	data := minimalDataDir(t)
	backup := filepath.Join(t.TempDir(), "backup")
	r := runCLI(t, nil, nil, "", "backup", "--data-dir", data, "--wal-dir", filepath.Join(data, "wal"),
		"--backup-dir", backup, "--backup-wal-dir", filepath.Join(backup, "wal"), "--with-v3")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("got %+v", r)
	}
	for _, p := range []string{"wal", "snap"} {
		if des, err := os.ReadDir(filepath.Join(backup, p)); err != nil || len(des) != 1 {
			t.Fatalf("backup %s: %v %v", p, des, err)
		}
	}
}

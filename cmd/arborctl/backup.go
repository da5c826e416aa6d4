package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/internal/backup"
)

// The one command that reads a data dir rather than talking to a server:
// like etcdctl's, it works on the member's files, so it imports the
// on-disk packages (through internal/backup) where every other command
// uses only the client.
func newBackupCommand(a *app) *cobra.Command {
	var dataDir, walDir, backupDir, backupWALDir string
	var withV3 bool
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "backup an etcd directory",
		Long: `Copy a member's data dir (a stopped member's, or a running one's: it is only
read, and its lock is not taken) into an empty backup dir, as a new member
of a new cluster: "arbor -data-dir <backup-dir>" starts a single-member
server with every key, value, TTL and index of the source (the same
X-Etcd-Index, createdIndex and modifiedIndex) under new member and cluster
IDs, so it never collides with the original. The backup holds one snapshot
of the state the source would restart with, and a fresh WAL.

Arbor keeps its WAL in <data-dir>/wal and has no separate WAL dir, so
--wal-dir and --backup-wal-dir are accepted only when they name exactly
that place (etcdctl scripts that spell it out keep working); any other
value is refused, since arbor could not start from a WAL elsewhere.
--with-v3 changes nothing: arbor has only the v2 store, which is always
copied whole.`,
		Example: `  arborctl backup --data-dir /var/lib/arbor --backup-dir /var/backups/arbor
  arbor -data-dir /var/backups/arbor -name restored   # a new one-member cluster`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return failf(exitBadArgs, "Error:  backup takes no arguments, got %q\n", args)
			}
			switch {
			case dataDir == "":
				return failf(exitBadArgs, "Error:  --data-dir is required\n")
			case backupDir == "":
				return failf(exitBadArgs, "Error:  --backup-dir is required\n")
			}
			if err := checkWALDirFlag("--wal-dir", walDir, dataDir); err != nil {
				return err
			}
			if err := checkWALDirFlag("--backup-wal-dir", backupWALDir, backupDir); err != nil {
				return err
			}
			res, err := backup.Run(backup.Config{
				DataDir:   dataDir,
				BackupDir: backupDir,
				Logger:    slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			})
			if err != nil {
				return a.fail(exitBadArgs, err)
			}
			// Like etcdctl, report on stderr and keep stdout empty.
			fmt.Fprintf(a.stderr, "backed up %s (member %x, cluster %x) to %s: raft index %d, store index %d (snapshot %d + %d log entries)\n",
				dataDir, res.Source.MemberID, res.Source.ClusterID, backupDir, res.Index, res.StoreIndex, res.SnapshotIndex, res.Entries)
			fmt.Fprintf(a.stderr, "the backup is member %x of new cluster %x; start it with: arbor -data-dir %s\n",
				res.Backup.MemberID, res.Backup.ClusterID, backupDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "Path to the arbor data dir")
	f.StringVar(&walDir, "wal-dir", "", "Path to the arbor wal dir (only <data-dir>/wal: arbor has no separate one)")
	f.StringVar(&backupDir, "backup-dir", "", "Path to the backup dir")
	f.StringVar(&backupWALDir, "backup-wal-dir", "", "Path to the backup wal dir (only <backup-dir>/wal)")
	f.BoolVar(&withV3, "with-v3", false, "Backup v3 backend data (no effect: arbor has only the v2 store)")
	return cmd
}

// checkWALDirFlag accepts a --wal-dir style flag only when it is unset or
// names <dir>/wal, the one place arbor keeps a WAL.
func checkWALDirFlag(flag, value, dir string) error {
	if value == "" {
		return nil
	}
	want, err := filepath.Abs(backup.WALDir(dir))
	if err == nil {
		var got string
		if got, err = filepath.Abs(value); err == nil && got == want {
			return nil
		}
	}
	return failf(exitBadArgs, "Error:  %s %s: arbor keeps the WAL in <data-dir>/wal and has no separate WAL dir; omit %s or give %s\n",
		flag, value, flag, backup.WALDir(dir))
}

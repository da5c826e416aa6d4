package backup

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/raftnode"
	"github.com/arbor-kv/arbor/internal/server"
	"github.com/arbor-kv/arbor/internal/snap"
	"github.com/arbor-kv/arbor/internal/store"
	"github.com/arbor-kv/arbor/internal/wal"
)

var (
	// ErrNotDataDir is returned (wrapped, naming the dir) when the source
	// does not exist or holds no WAL.
	ErrNotDataDir = errors.New("not an arbor data dir")
	// ErrBackupDirNotEmpty is returned (wrapped) when the backup dir already
	// holds something, or is the data dir or inside it.
	ErrBackupDirNotEmpty = errors.New("backup dir is not empty")
	// ErrNoLog is returned when the data dir has a WAL but nothing in it to
	// back up (the member never got as far as its first entry).
	ErrNoLog = errors.New("the data dir holds no raft log yet")
)

// The layout raftnode.Start uses under a data dir.
const (
	walSubdir  = "wal"
	snapSubdir = "snap"
)

// WALDir is where a member keeps its WAL: arbor has no separate WAL dir.
func WALDir(dataDir string) string { return filepath.Join(dataDir, walSubdir) }

// Config says what to copy where.
type Config struct {
	DataDir   string // the member's data dir; only read
	BackupDir string // created if missing; must be empty
	// Logger gets warnings: snapshots skipped as damaged, a torn tail left
	// out, an undecodable entry skipped, a read retried. Nil discards them.
	Logger *slog.Logger
	// Attempts bounds the reads of the source (see the package doc);
	// default 5.
	Attempts int
}

// Result describes the backup written.
type Result struct {
	Source, Backup raftnode.Identity
	// Index and Term are the Raft position of the backup's snapshot: the
	// last entry applied from the source.
	Index, Term uint64
	// StoreIndex is the store index (X-Etcd-Index) the backup starts with.
	StoreIndex uint64
	// SnapshotIndex is the source snapshot used (0 if none); Entries counts
	// the WAL entries applied on top of it.
	SnapshotIndex uint64
	Entries       int
}

// Run reads cfg.DataDir and writes a new data dir in cfg.BackupDir (see the
// package doc). On failure it removes whatever it wrote.
func Run(cfg Config) (Result, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if err := checkSource(cfg.DataDir); err != nil {
		return Result{}, err
	}
	created, err := prepareBackupDir(cfg.BackupDir, cfg.DataDir)
	if err != nil {
		return Result{}, err
	}
	m, err := readWithRetries(cfg)
	if err != nil {
		cleanup(cfg.BackupDir, created)
		return Result{}, err
	}
	res := Result{
		Source:        m.id,
		Backup:        newIdentity(m.id),
		Index:         m.index,
		Term:          m.term,
		StoreIndex:    m.st.Index(),
		SnapshotIndex: m.snapIndex,
		Entries:       m.entries,
	}
	if err := write(cfg.BackupDir, res, m); err != nil {
		cleanup(cfg.BackupDir, created)
		return Result{}, err
	}
	return res, nil
}

func checkSource(dataDir string) error {
	if dataDir == "" {
		return fmt.Errorf("%w: no data dir given", ErrNotDataDir)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotDataDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrNotDataDir, dataDir)
	}
	if !wal.Exist(WALDir(dataDir)) {
		return fmt.Errorf("%w: %s has no WAL segments", ErrNotDataDir, WALDir(dataDir))
	}
	return nil
}

// prepareBackupDir makes sure dir is empty (creating it if missing) and is
// not the data dir or inside it, so the source is never written to. It
// reports whether it created dir.
func prepareBackupDir(dir, dataDir string) (created bool, err error) {
	if dir == "" {
		return false, errors.New("no backup dir given")
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return false, err
	}
	if absDir == absData || strings.HasPrefix(absDir, absData+string(filepath.Separator)) {
		return false, fmt.Errorf("%w: %s is inside the data dir %s, which a backup never writes to", ErrBackupDirNotEmpty, dir, dataDir)
	}
	des, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("create backup dir: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("backup dir: %w", err)
	case len(des) > 0:
		return false, fmt.Errorf("%w: %s holds %s", ErrBackupDirNotEmpty, dir, des[0].Name())
	}
	return false, nil
}

// cleanup removes what a failed Run wrote into dir.
func cleanup(dir string, created bool) {
	if created {
		os.RemoveAll(dir)
		return
	}
	os.RemoveAll(filepath.Join(dir, walSubdir))
	os.RemoveAll(filepath.Join(dir, snapSubdir))
}

// member is a source member's state as a restart would rebuild it.
type member struct {
	id          raftnode.Identity
	st          *store.Store
	index, term uint64 // the last entry applied
	hardTerm    uint64 // the term in the source's hard state
	snapIndex   uint64
	entries     int
}

// readWithRetries reads the source, starting over when the read may have
// raced the running member (see the package doc).
func readWithRetries(cfg Config) (*member, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var m *member
		m, err = read(cfg.DataDir, cfg.Logger)
		if err == nil {
			return m, nil
		}
		if !mayBeRace(err) || attempt >= cfg.Attempts {
			return nil, err
		}
		cfg.Logger.Warn("backup: reading the data dir again (it may be changing under a running member)", "attempt", attempt, "err", err)
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
}

// errLogGap: the WAL does not continue from the snapshot loaded.
var errLogGap = errors.New("the WAL does not continue from the snapshot")

// mayBeRace says whether err can come from reading files a running member
// is changing: a record read half-written, a segment released or
// shortened, a newer snapshot replacing the log.
func mayBeRace(err error) bool {
	var ce *wal.CorruptError
	return errors.As(err, &ce) || errors.Is(err, wal.ErrSnapshotMismatch) || errors.Is(err, errLogGap) ||
		errors.Is(err, os.ErrNotExist) || errors.Is(err, io.ErrUnexpectedEOF)
}

// read rebuilds the member's state from its newest valid snapshot and the
// WAL after it, as raftnode.Start and the server's apply loop would.
func read(dataDir string, log *slog.Logger) (*member, error) {
	st := store.New(store.Config{HistorySize: 1})
	meta, err := snap.Load(filepath.Join(dataDir, snapSubdir), log, func(_ snap.Meta, r io.Reader) error {
		return st.Restore(r)
	})
	if err != nil && !errors.Is(err, snap.ErrNoSnapshot) {
		return nil, err
	}
	md, hs, ents, err := wal.ReadAll(WALDir(dataDir), meta.Index, log)
	if err != nil {
		return nil, err
	}
	if len(ents) > 0 && ents[0].Index != meta.Index+1 {
		return nil, fmt.Errorf("%w: snapshot at %d, first entry %d", errLogGap, meta.Index, ents[0].Index)
	}
	m := &member{st: st, index: meta.Index, term: meta.Term, hardTerm: hs.Term, snapIndex: meta.Index}
	if err := json.Unmarshal(md, &m.id); err != nil || m.id.MemberID == 0 {
		return nil, fmt.Errorf("%w: the WAL in %s has no valid member identity (%q)", ErrNotDataDir, WALDir(dataDir), md)
	}
	last := max(hs.Commit, meta.Index)
	if singleVoter(meta.ConfState, ents) && len(ents) > 0 {
		last = ents[len(ents)-1].Index
	}
	for _, e := range ents {
		if e.Index > last {
			break
		}
		if err := server.ApplyEntry(st, e); err != nil {
			log.Warn("backup: skipping undecodable log entry, as the member does", "index", e.Index, "err", err)
		}
		m.index, m.term = e.Index, e.Term
		m.entries++
	}
	if m.index == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoLog, dataDir)
	}
	return m, nil
}

// singleVoter says whether the membership after the snapshot's ConfState and
// the log's conf changes is one voter, who alone commits the whole log on
// restart. Anything it cannot follow counts as more than one.
func singleVoter(cs raftpb.ConfState, ents []raftpb.Entry) bool {
	if len(cs.VotersOutgoing) > 0 {
		return false
	}
	voters := make(map[uint64]bool)
	for _, id := range cs.Voters {
		voters[id] = true
	}
	for _, e := range ents {
		switch e.Type {
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				return false
			}
			switch cc.Type {
			case raftpb.ConfChangeAddNode:
				voters[cc.NodeID] = true
			case raftpb.ConfChangeAddLearnerNode, raftpb.ConfChangeRemoveNode:
				delete(voters, cc.NodeID)
			}
		case raftpb.EntryConfChangeV2:
			return false
		}
	}
	return len(voters) == 1
}

// write lays out the new data dir: the snapshot first, then the WAL, whose
// existence is what makes raftnode restart rather than bootstrap.
func write(dir string, res Result, m *member) error {
	meta := snap.Meta{Index: res.Index, Term: res.Term, ConfState: raftpb.ConfState{Voters: []uint64{res.Backup.MemberID}}}
	sn := m.st.Snapshot()
	if _, err := snap.Save(filepath.Join(dir, snapSubdir), meta, func(w io.Writer) error {
		_, err := sn.WriteTo(w)
		return err
	}); err != nil {
		return err
	}
	md, err := json.Marshal(res.Backup)
	if err != nil {
		return err
	}
	w, err := wal.Create(WALDir(dir), md, nil)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.SaveSnapshot(res.Index, res.Term); err != nil {
		return err
	}
	// No vote: the new member has voted for nobody in this term.
	return w.Save(raftpb.HardState{Term: max(m.hardTerm, res.Term), Commit: res.Index}, nil)
}

// newIdentity keeps the member's name under fresh member and cluster IDs.
func newIdentity(old raftnode.Identity) raftnode.Identity {
	id := raftnode.Identity{Name: old.Name}
	for id.MemberID == 0 || id.MemberID == old.MemberID {
		id.MemberID = randomID()
	}
	for id.ClusterID == 0 || id.ClusterID == old.ClusterID {
		id.ClusterID = randomID()
	}
	return id
}

func randomID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("backup: crypto/rand failed: %v", err))
	}
	return binary.BigEndian.Uint64(b[:])
}

package wal

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
)

// spareName is the file the next segment is prepared in. It ends in
// tmpSuffix, so Open and Create delete one left over by a crash.
const spareName = "spare" + tmpSuffix

// spareFlushBytes is how much of the spare is written between fdatasyncs:
// one flush of a whole 64 MiB file would make the log's own fdatasyncs
// (the client writes) wait behind it.
const spareFlushBytes = 8 << 20

// spare is the next segment's file, written with zeros in the background.
//
// Why: a fallocate'd segment's blocks are reserved but unwritten, so each
// fdatasync into fresh space must also commit the file system's note that
// the blocks now hold data. Into blocks already written, it flushes data
// alone: ~15% faster fdatasyncs here, the step every client write waits
// for. Writing the zeros when the segment starts would stall the log, so
// they are written ahead, while the current segment fills (from half way).
type spare struct {
	path string
	done chan struct{} // closed when f and err are set
	f    *os.File
	err  error
	stop atomic.Bool // set by dropSpare: give up early
}

// maybePrepareSpare starts writing the spare once the current segment is
// half full and none is being written: half a segment's worth of writes
// is ample time for it, and a log that never fills a segment (a small or
// short-lived member, a test) never writes one.
func (w *WAL) maybePrepareSpare() {
	if w.spare == nil && w.off >= w.opts.segmentSize/2 {
		w.prepareSpare()
	}
}

// prepareSpare starts writing the spare for the segment after the current
// one. The WAL's goroutine owns the result once done is closed.
func (w *WAL) prepareSpare() {
	s := &spare{path: filepath.Join(w.dir, spareName), done: make(chan struct{})}
	size := w.opts.segmentSize
	go func() {
		defer close(s.done)
		s.f, s.err = writeZeros(s.path, size, &s.stop)
	}()
	w.spare = s
}

// takeSpare returns the prepared spare file and starts the next one, or
// returns nil (and leaves a spare still being written alone) if none is
// ready: the caller then reserves space the ordinary way, never waiting.
func (w *WAL) takeSpare() *os.File {
	s := w.spare
	if s == nil {
		return nil
	}
	select {
	case <-s.done:
	default:
		return nil
	}
	w.spare = nil
	if s.err != nil {
		// Disk full and the like: the fallback reports it if it persists.
		// The next segment tries again once it is half full.
		w.log.Warn("wal: preparing the next segment failed", "path", s.path, "err", s.err)
		os.Remove(s.path)
		return nil
	}
	return s.f
}

// dropSpare waits for the spare being written and deletes it.
func (w *WAL) dropSpare() {
	s := w.spare
	if s == nil {
		return
	}
	w.spare = nil
	s.stop.Store(true)
	<-s.done
	if s.f != nil {
		s.f.Close()
	}
	os.Remove(s.path)
}

// errSpareDropped ends a spare the WAL no longer wants.
var errSpareDropped = errors.New("wal: spare segment dropped")

// writeZeros creates path holding size zero bytes, all of them durable,
// unless stop is set first. A file it could not finish is deleted at once:
// on a full disk it would otherwise hold the space until the next segment
// starts, and a snapshot that needs the space would fail meanwhile.
func writeZeros(path string, size int64, stop *atomic.Bool) (_ *os.File, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	zeros := make([]byte, 1<<20)
	var unflushed int64
	for off := int64(0); off < size; {
		if stop.Load() {
			return nil, errSpareDropped
		}
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return nil, err
		}
		off += n
		if unflushed += n; unflushed >= spareFlushBytes || off == size {
			if err := fdatasync(f, false); err != nil {
				return nil, err
			}
			unflushed = 0
		}
	}
	return f, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Durability says when a write counts as done.
type Durability int

const (
	// DurabilityFull, the default, syncs the write-ahead log to stable
	// storage before a commit returns (PRAGMA synchronous=FULL): a method
	// that returned survives a process crash and a power loss.
	DurabilityFull Durability = iota
	// DurabilityNormal syncs only at checkpoints (PRAGMA
	// synchronous=NORMAL): a method that returned survives a crash of the
	// process, but the last commits may be lost (never half-applied) if
	// the machine loses power or the operating system crashes.
	DurabilityNormal
)

// String returns the level's name.
func (d Durability) String() string {
	switch d {
	case DurabilityFull:
		return "full"
	case DurabilityNormal:
		return "normal"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// Defaults for the zero Options.
const (
	// DefaultBusyTimeout is how long a write waits for another process
	// (an operator CLI, or a runner) to finish its transaction.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultReadConns is the number of connections that serve reads.
	DefaultReadConns = 4
	// DefaultMaxBatch is the most writes committed in one transaction.
	DefaultMaxBatch = 256
)

// Options configure Open. The zero value works.
type Options struct {
	// Durability is when a write counts as done. The zero value is
	// DurabilityFull.
	Durability Durability
	// BusyTimeout bounds how long a statement waits for a lock another
	// process holds before failing. Zero means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ReadConns is the number of connections serving reads. Zero means
	// DefaultReadConns.
	ReadConns int
	// MaxBatch is the most writes that are committed together in one
	// transaction (group commit). Zero means DefaultMaxBatch; 1 commits
	// every write on its own.
	MaxBatch int
	// MustExist makes Open fail, with an error wrapping fs.ErrNotExist,
	// when the file does not exist, instead of creating it. Operator tools
	// set it so that a mistyped path is reported rather than created.
	MustExist bool
	// Verify makes Open read the whole file (PRAGMA quick_check) and fail
	// with ErrCorrupt if any page is damaged. It costs time proportional
	// to the file's size; without it damage is reported by the first
	// operation that reads the damaged page.
	Verify bool
}

func (o Options) validate() (Options, error) {
	switch {
	case o.Durability != DurabilityFull && o.Durability != DurabilityNormal:
		return o, fmt.Errorf("Options.Durability is %v, want DurabilityFull or DurabilityNormal", o.Durability)
	case o.BusyTimeout < 0:
		return o, fmt.Errorf("Options.BusyTimeout is negative (%v)", o.BusyTimeout)
	case o.ReadConns < 0:
		return o, fmt.Errorf("Options.ReadConns is negative (%d)", o.ReadConns)
	case o.MaxBatch < 0:
		return o, fmt.Errorf("Options.MaxBatch is negative (%d)", o.MaxBatch)
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.ReadConns == 0 {
		o.ReadConns = DefaultReadConns
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	return o, nil
}

// Errors of Open and of the operations. Each is wrapped with the file's
// path and the details, so test them with errors.Is.
var (
	// ErrNotDatabase: the file is not a database of this store: not a
	// SQLite file at all, or a SQLite database of another application.
	ErrNotDatabase = errors.New("not an iamplaybook store")
	// ErrCorrupt: the file is a damaged or truncated SQLite database.
	ErrCorrupt = errors.New("database file is damaged")
	// ErrSchemaTooNew: the file was written by a newer version of this
	// store, whose schema this version does not know. Nothing was
	// changed in it.
	ErrSchemaTooNew = errors.New("database schema is newer than this program supports")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store is closed")
)

// Store is a durable playbook.Store in one SQLite file, with its
// write-ahead log (path-wal, path-shm) beside it. It also implements
// playbook.VerdictInbox, playbook.ApprovalLister and playbook.Locker.
//
// All methods are safe for concurrent use, and several processes may open
// the same file at once: one runner (which takes the Locker) and any number
// of readers and verdict posters such as the operator CLI, which need no
// lock. Writes from one Store are committed by a single writer goroutine
// that groups the writes waiting at the same time into one transaction
// (group commit); each method returns once its own write is committed with
// the Durability chosen at Open. Reads run on a small pool of connections
// and see every write that returned before they started. Whenever the
// write-ahead log passes a few megabytes, the writer copies it into the
// file between two transactions.
//
// A method whose ctx is done before its write is committed returns
// ctx.Err(); if the write was already handed to the writer it may still be
// committed (the caller cannot tell), as with any abandoned call of
// playbook.Store.
//
// Values passed in are encoded before the method returns and values
// returned are freshly decoded, so the caller never shares memory with the
// Store. Times keep their instant to the nanosecond; their location comes
// back as a fixed zone (or UTC). Indexes order runs by CreatedAt and
// approvals by deadline as nanoseconds since 1970, clamped to the years
// 1678 to 2262.
type Store struct {
	path string
	opt  Options

	wdb   *sql.DB   // one connection, the writer's
	wconn *sql.Conn // used only by the writer goroutine
	rdb   *sql.DB   // the read pool
	w     writeStmts
	r     readStmts

	reqs    chan *op
	quit    chan struct{}
	stopped chan struct{}

	claimsSincePrune int // writer only
	tokensSincePrune int // writer only

	closeOnce sync.Once
	closeErr  error

	lockMu sync.Mutex
	locks  map[*fileLock]struct{}
}

var (
	_ playbook.Store          = (*Store)(nil)
	_ playbook.VerdictInbox   = (*Store)(nil)
	_ playbook.ApprovalLister = (*Store)(nil)
	_ playbook.Locker         = (*Store)(nil)
)

// Open opens the store in the SQLite file at path, creating the file (but
// not its directory) unless o.MustExist, and bringing its schema up to
// date. It refuses, with an error naming path: a file that is not a SQLite
// database or is another application's database (ErrNotDatabase), a
// truncated or damaged one (ErrCorrupt), and one whose schema is newer than
// this program's (ErrSchemaTooNew); such files are left untouched.
//
// ctx bounds the opening only. The caller must Close the Store.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	o, err := o.validate()
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := checkFile(path, o.MustExist); err != nil {
		return nil, err
	}
	s := &Store{path: path, opt: o, locks: map[*fileLock]struct{}{}}
	if err := s.open(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.reqs = make(chan *op, o.MaxBatch)
	s.quit = make(chan struct{})
	s.stopped = make(chan struct{})
	go s.writeLoop()
	return s, nil
}

func (s *Store) dsn(write bool) string {
	q := []string{fmt.Sprintf("_pragma=busy_timeout(%d)", s.opt.BusyTimeout.Milliseconds())}
	if write {
		sync := "FULL"
		if s.opt.Durability == DurabilityNormal {
			sync = "NORMAL"
		}
		// The writer checkpoints itself (see Store.checkpoint).
		q = append(q, "_pragma=foreign_keys(1)", "_pragma=synchronous("+sync+")", "_pragma=wal_autocheckpoint(0)",
			fmt.Sprintf("_pragma=journal_size_limit(%d)", checkpointBytes/4))
	} else {
		q = append(q, "_pragma=query_only(1)")
	}
	return s.path + "?" + strings.Join(q, "&")
}

func (s *Store) open(ctx context.Context) error {
	wdb, err := sql.Open("sqlite", s.dsn(true))
	if err != nil {
		return s.wrap("opening", err)
	}
	s.wdb = wdb
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	s.wconn, err = wdb.Conn(ctx)
	if err != nil {
		return s.wrap("opening", err)
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if s.opt.Verify {
		if err := s.verify(ctx); err != nil {
			return err
		}
	}
	if err := s.w.prepare(ctx, s.wconn); err != nil {
		return s.wrap("preparing statements", err)
	}
	rdb, err := sql.Open("sqlite", s.dsn(false))
	if err != nil {
		return s.wrap("opening the read pool", err)
	}
	s.rdb = rdb
	rdb.SetMaxOpenConns(s.opt.ReadConns)
	rdb.SetMaxIdleConns(s.opt.ReadConns)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	if err := s.r.prepare(ctx, rdb); err != nil {
		return s.wrap("preparing statements", err)
	}
	return nil
}

// Path returns the file the Store was opened on.
func (s *Store) Path() string { return s.path }

// Close stops the writer after the writes already handed to it are
// committed, releases any runner lock still held through Lock, and closes
// the file. Later calls of any method return an error wrapping ErrClosed;
// calls in flight when Close begins either complete or return that error.
// Close may be called more than once; later calls return the first call's
// result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.stopped
		var errs []error
		s.lockMu.Lock()
		for l := range s.locks {
			errs = append(errs, l.release())
		}
		clear(s.locks)
		s.lockMu.Unlock()
		errs = append(errs, s.closeDBs())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: closing %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	errs = append(errs, s.w.close(), s.r.close())
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	return errors.Join(errs...)
}

// checkFile refuses, before SQLite touches it, a path that is a directory,
// a missing file when mustExist, and a file that is not a SQLite database
// or is visibly truncated.
func checkFile(path string, mustExist bool) error {
	if path == "" {
		return errors.New("sqlite: open: the path is empty")
	}
	if strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return fmt.Errorf("sqlite: open %q: want a plain file path (no '?', no file: URI, not :memory:)", path)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if mustExist {
			return fmt.Errorf("sqlite: open %s: no such file: %w", path, fs.ErrNotExist)
		}
		// Create it readable by its owner only: it holds the run journal.
		// SQLite gives its -wal and -shm files the same permissions, and
		// takes an empty file for an empty database.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return checkFile(path, mustExist) // created meanwhile: check it
		}
		if err != nil {
			return fmt.Errorf("sqlite: create %s: %w", path, err)
		}
		return f.Close()
	}
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("sqlite: open %s: is a directory, want a database file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer f.Close()
	walSize := int64(0)
	if wi, err := os.Stat(path + "-wal"); err == nil {
		walSize = wi.Size()
	}
	return checkHeader(path, f, fi.Size(), walSize)
}

// wrap returns err with the path and what was being done, translating
// SQLite's codes for a foreign or damaged file into ErrNotDatabase and
// ErrCorrupt.
func (s *Store) wrap(doing string, err error) error {
	if err != nil && s.quit != nil && s.isClosed() {
		// A call that raced with Close: the connections it used are gone.
		return fmt.Errorf("sqlite: %s %s: %w (%v)", doing, s.path, ErrClosed, err)
	}
	return wrapErr(s.path, doing, err)
}

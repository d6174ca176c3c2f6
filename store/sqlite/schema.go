package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// applicationID marks a SQLite file as an iamplaybook store (PRAGMA
// application_id): "iplb".
const applicationID = 0x69706c62

// SchemaVersion is the schema version this package writes (PRAGMA
// user_version). Open migrates older files up to it and refuses newer ones
// with ErrSchemaTooNew.
const SchemaVersion = 3

// migrations[i] brings the schema from version i to i+1. A released
// migration is never changed; a new schema adds an entry.
var migrations = []string{
	// 1: runs, their journal, event claims and the verdict inbox.
	`CREATE TABLE runs (
		seq INTEGER PRIMARY KEY,
		id TEXT NOT NULL UNIQUE,
		state TEXT NOT NULL,
		subject TEXT NOT NULL,
		created_ns INTEGER NOT NULL,
		approval_status TEXT,
		deadline_ns INTEGER,
		version INTEGER NOT NULL,
		data BLOB NOT NULL,
		raw BLOB
	);
	CREATE INDEX runs_created ON runs (created_ns, seq);
	CREATE INDEX runs_state ON runs (state, created_ns, seq);
	CREATE INDEX runs_subject ON runs (subject, created_ns, seq);
	CREATE INDEX runs_pending ON runs (deadline_ns, id) WHERE approval_status = 'pending';
	CREATE TABLE steps (
		seq INTEGER PRIMARY KEY,
		run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
		step_id TEXT NOT NULL,
		data BLOB NOT NULL,
		result BLOB,
		UNIQUE (run_seq, step_id)
	);
	CREATE TABLE claims (
		key TEXT PRIMARY KEY,
		owner TEXT NOT NULL,
		expires_ns INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX claims_expiry ON claims (expires_ns);
	CREATE TABLE inbox (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		data BLOB NOT NULL
	);`,
	// 2: the pollers' state (cursor.Store): cursors and idempotency
	// records, by key.
	`CREATE TABLE cursors (
		key TEXT PRIMARY KEY,
		value TEXT NOT NULL
	) WITHOUT ROWID;`,
	// 3: the approval links already used (Tokens), by key, with the time
	// after which the link is expired anyway.
	`CREATE TABLE used_tokens (
		key TEXT PRIMARY KEY,
		until_ns INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX used_tokens_until ON used_tokens (until_ns);`,
}

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// checkHeader reads the 100-byte SQLite header of a file of size bytes and
// refuses a file that is not a SQLite database, or one shorter than its
// header says. walSize is the size of the file's write-ahead log: while
// one is pending (a process died before a checkpoint completed) the main
// file may legitimately lag behind, and SQLite itself judges it.
func checkHeader(path string, r io.Reader, size, walSize int64) error {
	if size == 0 {
		return nil // an empty file is an empty database
	}
	hdr := make([]byte, 100)
	n, err := io.ReadFull(r, hdr)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("sqlite: open %s: reading the header: %w", path, err)
	}
	hdr = hdr[:n]
	if !bytes.HasPrefix(hdr, sqliteMagic) {
		if n < len(sqliteMagic) && bytes.HasPrefix(sqliteMagic, hdr) {
			return fmt.Errorf("sqlite: open %s: %w: truncated to %d bytes", path, ErrCorrupt, size)
		}
		return fmt.Errorf("sqlite: open %s: %w: the file does not start with the SQLite header (first bytes %q)",
			path, ErrNotDatabase, printable(hdr[:min(n, 16)]))
	}
	if n < 100 {
		return fmt.Errorf("sqlite: open %s: %w: truncated to %d bytes, inside the 100-byte header", path, ErrCorrupt, size)
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("sqlite: open %s: %w: the header's page size %d is invalid", path, ErrCorrupt, pageSize)
	}
	changeCounter := binary.BigEndian.Uint32(hdr[24:28])
	pages := int64(binary.BigEndian.Uint32(hdr[28:32]))
	validFor := binary.BigEndian.Uint32(hdr[92:96])
	if walSize == 0 && changeCounter == validFor && pages > 0 && size < pages*pageSize {
		return fmt.Errorf("sqlite: open %s: %w: truncated to %d bytes, the header says %d pages of %d bytes (%d bytes)",
			path, ErrCorrupt, size, pages, pageSize, pages*pageSize)
	}
	return nil
}

// printable replaces bytes outside printable ASCII, so that an error
// message quoting a foreign file stays readable.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '.'
		}
		return r
	}, string(b))
}

// migrate checks the file's identity and schema version and applies the
// missing migrations, all in one transaction.
func (s *Store) migrate(ctx context.Context) (err error) {
	c := s.wconn
	// Identify the file before anything writes to it: a foreign or newer
	// file is left exactly as it was.
	if _, err := s.identify(ctx); err != nil {
		return err
	}
	// WAL must be set outside a transaction.
	var mode string
	if err := c.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return s.wrap("setting WAL mode", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: open %s: the file refused WAL mode (journal_mode is %q)", s.path, mode)
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return s.wrap("starting the schema migration", err)
	}
	defer func() {
		if err != nil {
			_, _ = c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	// Again under the write lock: another process may have created the
	// schema meanwhile.
	version, err := s.identify(ctx)
	if err != nil {
		return err
	}
	if version == SchemaVersion {
		_, err := c.ExecContext(ctx, "COMMIT")
		return s.wrap("reading the schema", err)
	}
	for v := version; v < SchemaVersion; v++ {
		if _, err := c.ExecContext(ctx, migrations[v]); err != nil {
			return s.wrap(fmt.Sprintf("migrating the schema to version %d", v+1), err)
		}
	}
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
		return s.wrap("setting the application id", err)
	}
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return s.wrap("setting the schema version", err)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		return s.wrap("committing the schema", err)
	}
	return nil
}

// identify returns the file's schema version, or an error if the file is
// not a store of this package or is newer than it.
func (s *Store) identify(ctx context.Context) (int, error) {
	c := s.wconn
	var appID, version, objects int64
	if err := c.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return 0, s.wrap("reading the application id of", err)
	}
	if err := c.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, s.wrap("reading the schema version of", err)
	}
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects); err != nil {
		return 0, s.wrap("reading the schema of", err)
	}
	switch {
	case appID == applicationID:
	case appID == 0 && version == 0 && objects == 0:
		return 0, nil // a new, empty database
	case appID != 0:
		return 0, fmt.Errorf("sqlite: open %s: %w: a SQLite database of another application (application_id %#x)", s.path, ErrNotDatabase, appID)
	default:
		return 0, fmt.Errorf("sqlite: open %s: %w: a SQLite database of another application (%d schema objects, user_version %d, no iamplaybook application_id)",
			s.path, ErrNotDatabase, objects, version)
	}
	switch {
	case version > int64(SchemaVersion):
		return 0, fmt.Errorf("sqlite: open %s: %w: the file has schema version %d, this program knows versions up to %d; upgrade the program",
			s.path, ErrSchemaTooNew, version, SchemaVersion)
	case version < 1:
		return 0, fmt.Errorf("sqlite: open %s: %w: iamplaybook application id with schema version %d", s.path, ErrCorrupt, version)
	}
	return int(version), nil
}

// verify runs PRAGMA quick_check.
func (s *Store) verify(ctx context.Context) error {
	rows, err := s.wconn.QueryContext(ctx, "PRAGMA quick_check(10)")
	if err != nil {
		return s.wrap("checking the file", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.wrap("checking the file", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return s.wrap("checking the file", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: open %s: %w: %s", s.path, ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// wrapErr adds path and what was being done to err, translating SQLite's
// result codes for a foreign or damaged file into ErrNotDatabase and
// ErrCorrupt.
func wrapErr(path, doing string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("sqlite: %s %s: %w: %v", doing, path, ErrNotDatabase, err)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("sqlite: %s %s: %w: %v", doing, path, ErrCorrupt, err)
		}
	}
	if errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("sqlite: %s %s: %w", doing, path, ErrClosed)
	}
	return fmt.Errorf("sqlite: %s %s: %w", doing, path, err)
}

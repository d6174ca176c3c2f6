package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by JSONL.Record and JSONL.Flush after Close.
var ErrClosed = errors.New("audit: sink closed")

// ErrCorruptTail is returned (wrapped, together with the reason) by
// OpenJSONL when the last record of an existing file cannot be verified, so
// that the chain cannot be continued without forking it. Inspect the file
// with Verify; repair it by hand (for example, cut the torn last line after
// keeping a copy) only if you can explain the damage.
var ErrCorruptTail = errors.New("audit: log tail is corrupt; refusing to continue the chain")

// SyncMode says when a JSONL sink forces its records to stable storage.
type SyncMode int

const (
	// SyncGroup, the zero value and default, is group commit: concurrent
	// Record calls are batched, and each returns only after an fsync that
	// covers its record. One caller at a time (the leader) writes and
	// syncs the batch while the others queue the next one; no background
	// goroutine is involved. A lone writer pays one fsync per record.
	SyncGroup SyncMode = iota
	// SyncEach writes and fsyncs every record on its own before Record
	// returns, serialising all callers. It is durable like SyncGroup, and
	// slower under concurrency.
	SyncEach
	// SyncNone buffers records in memory (written when 64 KiB accumulate)
	// and forces them out only on Flush and Close. A crash loses the
	// buffered records. It is meant for tests and benchmarks, not for a
	// production trail.
	SyncNone
)

// String returns "group", "each" or "none".
func (m SyncMode) String() string {
	switch m {
	case SyncGroup:
		return "group"
	case SyncEach:
		return "each"
	case SyncNone:
		return "none"
	}
	return "SyncMode(" + strconv.Itoa(int(m)) + ")"
}

// JSONLOptions configures a JSONL sink. The zero value is a durable,
// unkeyed log: SyncGroup, SHA-256 chain, files created with mode 0600.
type JSONLOptions struct {
	// Sync is the durability mode; the zero value is SyncGroup.
	Sync SyncMode
	// HMACKey, when not nil, makes each hash an HMAC-SHA256 under this
	// key, so that someone who can edit the file but does not hold the key
	// cannot recompute the chain. The verifier needs the same key. The
	// sink keeps its own copy.
	HMACKey []byte
	// VerifyOnOpen makes OpenJSONL verify the whole existing file, not
	// only its last record, before appending to it.
	VerifyOnOpen bool
	// FileMode is the permission of a file OpenJSONL creates; zero means
	// 0600.
	FileMode fs.FileMode
	// RepairTornTail lets OpenJSONL cut an incomplete last line (one with
	// no final newline: a crash interrupted its write, so its Record call
	// never returned and nothing acted on it) instead of refusing the
	// file. The cut bytes are appended to the file path + ".torn" (0600,
	// synced) before the log is truncated, and the chain then continues
	// with a TypeLogRepaired record saying so. Only an incomplete line is
	// ever cut: a complete line that fails its check is still refused with
	// ErrCorruptTail.
	RepairTornTail bool
}

func (o JSONLOptions) validate() error {
	if o.Sync < SyncGroup || o.Sync > SyncNone {
		return fmt.Errorf("audit: JSONLOptions.Sync: unknown mode %d", int(o.Sync))
	}
	if o.HMACKey != nil && len(o.HMACKey) == 0 {
		return errors.New("audit: JSONLOptions.HMACKey: empty key (use nil for no key)")
	}
	if o.FileMode&^fs.ModePerm != 0 {
		return fmt.Errorf("audit: JSONLOptions.FileMode: %v is not a permission", o.FileMode)
	}
	return nil
}

// JSONL is a Sink that appends redacted records to a hash-chained JSON
// Lines log, one record per line:
//
//	{"seq":1,"prev":"","time":"...","type":"...",...,"hash":"<64 hex>"}
//
// seq counts from 1; prev is the previous line's hash ("" for the first);
// hash is the lower-case hex SHA-256 (HMAC-SHA256 with
// JSONLOptions.HMACKey) of prev's text followed by the line's body, where
// the body is the line without its trailing `,"hash":"…"` member (the body
// ends with the same "}"). The verifier thus recomputes the hash from the
// bytes on disk, never from re-encoded JSON. See Verify.
//
// Record is safe for concurrent use; records get consecutive seqs in one
// total order, the order in which calls took the sink's lock. Record
// returns once the record is as durable as the SyncMode promises. If a
// write or fsync fails, the sink is broken: that and every later call
// return the error, since the file may now end in a torn line (OpenJSONL
// will refuse it until it is inspected).
//
// Only one JSONL may write a given file at a time, across processes too.
type JSONL struct {
	mode   SyncMode
	w      io.Writer
	syncer interface{ Sync() error }
	closer io.Closer

	mu       sync.Mutex
	h        hash.Hash
	sum      []byte
	seq      uint64 // seq of the last record encoded
	head     []byte // hex hash of the last record encoded
	buf      []byte // encoded lines not yet written
	spare    []byte // second buffer, swapped in while the leader writes
	durable  uint64 // last seq written (and synced, for SyncGroup/SyncEach)
	flushing bool   // a leader is writing outside mu (SyncGroup)
	// durableA mirrors durable for waiters woken by their batch, so that
	// hundreds of them need not take mu again to learn they are done.
	durableA atomic.Uint64
	inflight chan struct{} // closed when the batch being written is done
	pending  chan struct{} // closed when the batch in buf is done
	token    chan struct{} // cap 1: asks one waiter to lead the next batch
	err      error         // sticky write error
	closed   bool
	// tornBytes is how many bytes OpenJSONL cut off a torn last line.
	tornBytes int
}

var _ Sink = (*JSONL)(nil)

// NewJSONL returns a JSONL that starts a new chain (seq 1) on w. When w has
// a Sync() error method (as *os.File does) it is used to force records to
// stable storage; otherwise the sync modes only differ in when Write is
// called. Close flushes but does not close w. Writes to w are never
// concurrent.
func NewJSONL(w io.Writer, opts JSONLOptions) (*JSONL, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return newJSONL(w, opts), nil
}

func newJSONL(w io.Writer, opts JSONLOptions) *JSONL {
	j := &JSONL{
		mode:     opts.Sync,
		w:        w,
		h:        newHasher(bytes.Clone(opts.HMACKey)),
		pending:  make(chan struct{}),
		inflight: make(chan struct{}),
		token:    make(chan struct{}, 1),
		buf:      make([]byte, 0, 64<<10),
		spare:    make([]byte, 0, 64<<10),
	}
	if s, ok := w.(interface{ Sync() error }); ok {
		j.syncer = s
	}
	return j
}

// ErrLocked is returned by OpenJSONL when another writer (in this process
// or another) holds the file: two writers would fork the chain.
var ErrLocked = errors.New("log is open by another writer")

// encPool holds encoding buffers: a record is encoded outside the sink's
// lock, then copied into the batch, after which its buffer is reused.
var encPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// OpenJSONL opens the log file at path for appending, creating it if it does
// not exist, and locks it for this writer until Close (ErrLocked if another
// writer holds it; on Unix-like systems). An existing non-empty file's last record is checked (complete
// line, well-formed, hash valid under opts.HMACKey) and the chain continues
// from it; if that check fails, OpenJSONL returns an error wrapping
// ErrCorruptTail and the *VerifyError reason, and appends nothing (see
// JSONLOptions.RepairTornTail for the one repair it can make). With
// opts.VerifyOnOpen the whole file is verified first. Close closes the file.
func OpenJSONL(path string, opts JSONLOptions) (*JSONL, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	perm := opts.FileMode
	if perm == 0 {
		perm = 0o600
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, perm)
	if err != nil {
		return nil, fmt.Errorf("audit: open log: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("audit: open log %s: %w", path, err)
		}
		return nil, fmt.Errorf("audit: lock log %s: %w", path, err)
	}
	j := newJSONL(f, opts)
	j.closer = f
	if err := j.resume(f, path, opts); err != nil {
		f.Close()
		return nil, err
	}
	if j.tornBytes > 0 {
		rec := Record{Time: time.Now().UTC(), Type: TypeLogRepaired, Actor: "system", Outcome: "repaired",
			Data: map[string]any{"torn_bytes": j.tornBytes, "saved_to": filepath.Base(path) + ".torn"}}
		if err := j.Record(context.Background(), rec); err != nil {
			j.Close()
			return nil, fmt.Errorf("audit: recording the repair of %s: %w", path, err)
		}
	}
	if created {
		// Make the new directory entry durable too; not every file system
		// supports syncing a directory, so failures are ignored.
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return j, nil
}

// resume reads the tail of an existing log and sets seq and head from it.
func (j *JSONL) resume(f *os.File, path string, opts JSONLOptions) error {
	if opts.RepairTornTail {
		line, complete, err := lastLine(f)
		if err != nil {
			return fmt.Errorf("audit: open log: %w", err)
		}
		if line != nil && !complete {
			if err := cutTornTail(f, path, line); err != nil {
				return fmt.Errorf("audit: repairing the torn last line of %s: %w", path, err)
			}
			j.tornBytes = len(line)
		}
	}
	if opts.VerifyOnOpen {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("audit: open log: %w", err)
		}
		if _, err := Verify(f, VerifyOptions{HMACKey: opts.HMACKey}); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorruptTail, path, err)
		}
	}
	line, complete, err := lastLine(f)
	if err != nil {
		return fmt.Errorf("audit: open log: %w", err)
	}
	if line == nil {
		return nil // empty file: new chain
	}
	if !complete {
		seq, _ := claimedSeq(line)
		return fmt.Errorf("%w: %s: %w", ErrCorruptTail, path, &VerifyError{Seq: seq, Reason: ErrTruncated})
	}
	var lf lineFields
	if err := json.Unmarshal(line, &lf); err != nil || lf.Seq == 0 {
		seq, _ := claimedSeq(line)
		return fmt.Errorf("%w: %s: %w", ErrCorruptTail, path, &VerifyError{Seq: seq, Reason: ErrMalformedLine})
	}
	if lf.Seq == 1 && lf.Prev != "" {
		return fmt.Errorf("%w: %s: %w", ErrCorruptTail, path, &VerifyError{Seq: 1, Reason: ErrPrevMismatch})
	}
	// The last line checked against its own prev: seq cannot be checked
	// without the line before, the hash and the line's shape can.
	if _, hx, err := checkLine(j.h, line, lf.Prev, lf.Seq, nil); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorruptTail, path, err)
	} else {
		j.seq = lf.Seq
		j.head = []byte(hx)
		j.durable = lf.Seq
		j.durableA.Store(lf.Seq)
	}
	return nil
}

// lastLine returns the last line of f without its '\n', and whether it
// ended with '\n'. It returns a nil line for an empty file.
func lastLine(f *os.File) ([]byte, bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	size := fi.Size()
	if size == 0 {
		return nil, false, nil
	}
	const chunk = 8 << 10
	var tail []byte
	end := size
	for end > 0 {
		n := int64(chunk)
		if n > end {
			n = end
		}
		b := make([]byte, n)
		if _, err := f.ReadAt(b, end-n); err != nil {
			return nil, false, err
		}
		tail = append(b, tail...)
		end -= n
		// Look for the newline that ends the line before the last one.
		search := tail
		if len(search) > 0 && search[len(search)-1] == '\n' {
			search = search[:len(search)-1]
		}
		if i := bytes.LastIndexByte(search, '\n'); i >= 0 {
			tail = tail[i+1:]
			break
		}
	}
	if n := len(tail); n > 0 && tail[n-1] == '\n' {
		return tail[:n-1], true, nil
	}
	return tail, false, nil
}

// cutTornTail saves the incomplete last line torn to path.torn, then
// truncates f before it.
func cutTornTail(f *os.File, path string, torn []byte) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	saved, err := os.OpenFile(path+".torn", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, werr := saved.Write(append(bytes.Clone(torn), '\n'))
	if err := errors.Join(werr, saved.Sync(), saved.Close()); err != nil {
		return err
	}
	if err := f.Truncate(fi.Size() - int64(len(torn))); err != nil {
		return err
	}
	return f.Sync()
}

// Record redacts r, gives it the next seq, chains it and appends it, then
// waits as the sync mode requires. The Seq, Prev and Hash of r are ignored.
//
// If ctx is done on entry, Record returns ctx.Err() and writes nothing.
// Under SyncGroup, if ctx ends while the call waits for its batch's fsync,
// Record returns ctx.Err() and the record may still be written. Record
// returns ErrClosed after Close, a JSON encoding error (wrapped) for a Data
// value that cannot be encoded (nothing is written), and the sticky write
// error once the sink is broken.
func (j *JSONL) Record(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r = Redact(r)
	r.Seq, r.Prev, r.Hash = 0, "", ""
	bp := encPool.Get().(*[]byte)
	enc, err := appendRecord((*bp)[:0], &r)
	if err != nil {
		encPool.Put(bp)
		return fmt.Errorf("audit: encode record: %w", err)
	}
	defer func() {
		if cap(enc) <= 64<<10 {
			*bp = enc
			encPool.Put(bp)
		}
	}()
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	if j.err != nil {
		j.mu.Unlock()
		return j.err
	}
	seq := j.appendLocked(enc)
	switch j.mode {
	case SyncEach:
		err = j.writeLocked(true)
	case SyncNone:
		if len(j.buf) >= 64<<10 {
			err = j.writeLocked(false)
		}
	default:
		return j.commitLocked(ctx, seq) // unlocks
	}
	j.mu.Unlock()
	return err
}

// appendLocked encodes the chained line for enc (a JSON object of the
// record without seq, prev and hash) into j.buf and returns its seq.
func (j *JSONL) appendLocked(enc []byte) uint64 {
	seq := j.seq + 1
	start := len(j.buf)
	b := append(j.buf, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev":"`...)
	b = append(b, j.head...)
	b = append(b, `",`...)
	b = append(b, enc[1:len(enc)-1]...)
	// Body is b[start:] + "}"; hash it, then close the line with the hash.
	j.sum = chainSum(j.h, j.sum[:0], j.head, b[start:], true)
	b = append(b, hashPrefix...)
	hexStart := len(b)
	b = hex.AppendEncode(b, j.sum)
	j.head = append(j.head[:0], b[hexStart:]...)
	b = append(b, "\"}\n"...)
	j.buf = b
	j.seq = seq
	return seq
}

// writeLocked writes j.buf and, if sync is set, fsyncs; mu must be held and
// no leader may be writing.
func (j *JSONL) writeLocked(sync bool) error {
	err := j.writeOut(j.buf, sync)
	if err != nil {
		j.err = err
	} else {
		j.buf = j.buf[:0]
		j.durable = j.seq
		j.durableA.Store(j.seq)
	}
	if j.mode == SyncGroup && (err != nil || sync) {
		// Wake group-commit waiters whose records this write covered.
		close(j.pending)
		j.pending = make(chan struct{})
	}
	return err
}

func (j *JSONL) writeOut(b []byte, sync bool) error {
	if len(b) > 0 {
		if _, err := j.w.Write(b); err != nil {
			return fmt.Errorf("audit: write log: %w", err)
		}
	}
	if sync && j.syncer != nil {
		if err := j.syncer.Sync(); err != nil {
			return fmt.Errorf("audit: sync log: %w", err)
		}
	}
	return nil
}

// commitLocked returns once record seq is written and synced (group
// commit). mu must be held on entry; it is released on return.
//
// The caller that finds no write in progress leads: it takes the whole
// buffer, writes and syncs it outside the lock while later callers fill the
// other buffer, then closes the batch's channel, which wakes exactly the
// callers whose records it held. If records wait in the buffer by then, it
// hands a token to one of their callers, who leads the next batch.
func (j *JSONL) commitLocked(ctx context.Context, seq uint64) error {
	done := j.pending // closed when the batch holding seq is done
	for {
		if j.durable >= seq {
			j.mu.Unlock()
			return nil
		}
		if j.err != nil {
			err := j.err
			j.mu.Unlock()
			return err
		}
		if !j.flushing {
			j.leadLocked()
			continue
		}
		j.mu.Unlock()
		select {
		case <-done:
			if j.durableA.Load() >= seq {
				return nil
			}
			j.mu.Lock()
		case <-j.token:
			j.mu.Lock()
			if !j.flushing && len(j.buf) > 0 && j.err == nil {
				j.leadLocked() // even if our own record is already durable
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leadLocked writes and syncs the buffered batch outside the lock. mu is
// held on entry and on return; no other leader may be running.
func (j *JSONL) leadLocked() {
	j.flushing = true
	batch, last, done := j.buf, j.seq, j.pending
	j.buf, j.spare = j.spare[:0], nil
	j.pending = make(chan struct{})
	j.inflight = done
	j.mu.Unlock()
	err := j.writeOut(batch, true)
	j.mu.Lock()
	if cap(batch) <= 4<<20 {
		j.spare = batch[:0]
	}
	if err != nil {
		j.err = err
	} else {
		j.durable = last
		j.durableA.Store(last)
	}
	j.flushing = false
	close(done)
	if len(j.buf) > 0 && j.err == nil {
		select {
		case j.token <- struct{}{}:
		default: // a token is already waiting to be taken
		}
	}
}

// waitLeaderLocked waits until no leader is writing; mu is held on entry
// and on return.
func (j *JSONL) waitLeaderLocked() {
	for j.flushing {
		ch := j.inflight
		j.mu.Unlock()
		<-ch
		j.mu.Lock()
	}
}

// Flush writes every buffered record and fsyncs the file (when the writer
// supports it), whatever the sync mode. It returns ErrClosed after Close and
// the sticky error of a broken sink.
func (j *JSONL) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	j.waitLeaderLocked()
	if j.err != nil {
		return j.err
	}
	return j.writeLocked(true)
}

// Head returns the seq and hash of the last record accepted by Record (or
// found on open), which a host may anchor elsewhere. Under SyncNone the
// record may not be written yet.
func (j *JSONL) Head() (seq uint64, hash string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq, string(j.head)
}

// Close waits for in-flight writes, writes and fsyncs what is buffered, and
// closes the file if OpenJSONL opened it. It starts no goroutine and leaves
// none behind. Later Record and Flush calls return ErrClosed; a second
// Close returns nil. The error is the first failure among the final write,
// the sync and the file's Close (or the sticky error of a broken sink).
func (j *JSONL) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	j.waitLeaderLocked()
	err := j.err
	if err == nil {
		err = j.writeLocked(true)
	}
	if j.closer != nil {
		if cerr := j.closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("audit: close log: %w", cerr)
		}
	}
	return err
}

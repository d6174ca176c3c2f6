package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
)

// The reasons a Verify or OpenJSONL can give for a broken log. A
// *VerifyError unwraps to exactly one of them, so errors.Is tells them apart.
var (
	// ErrMalformedLine: a line is not a JSON record with a well-formed
	// trailing "hash" member (garbage, empty line, edited hash field, line
	// over the length limit).
	ErrMalformedLine = errors.New("malformed record line")
	// ErrTruncated: the last line does not end with a newline: a write was
	// cut short, or the file was truncated.
	ErrTruncated = errors.New("truncated final line")
	// ErrSeqMismatch: a record's seq is not the previous seq plus one: a
	// record was removed, duplicated or moved.
	ErrSeqMismatch = errors.New("seq out of order (record removed, duplicated or reordered)")
	// ErrPrevMismatch: a record's prev is not the hash of the record before
	// it: the chain was cut or spliced.
	ErrPrevMismatch = errors.New("prev does not match the previous record's hash")
	// ErrHashMismatch: a record's hash does not match its content: the line
	// was edited, or the key is wrong.
	ErrHashMismatch = errors.New("hash mismatch (content tampered or wrong key)")
	// ErrHeadMissing: the intact chain holds no record with the hash the
	// host anchored (VerifyOptions.ExpectHead): records were removed from
	// the end.
	ErrHeadMissing = errors.New("anchored head not found (records removed from the end)")
)

// VerifyError locates the first broken record of a log.
type VerifyError struct {
	// Line is the 1-based line number of the broken record.
	Line int
	// Seq is the seq the broken line claims, or 0 when it cannot be read.
	Seq uint64
	// Reason is one of ErrMalformedLine, ErrTruncated, ErrSeqMismatch,
	// ErrPrevMismatch, ErrHashMismatch and ErrHeadMissing.
	Reason error
	// Detail says more, such as the expected and found values.
	Detail string
}

// Error gives the line, the seq when known, and what is wrong there.
func (e *VerifyError) Error() string {
	s := "audit: line " + strconv.Itoa(e.Line)
	if e.Seq != 0 {
		s += " (seq " + strconv.FormatUint(e.Seq, 10) + ")"
	}
	s += ": " + e.Reason.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns Reason.
func (e *VerifyError) Unwrap() error { return e.Reason }

// VerifyOptions configures Verify. The zero value verifies a log written
// without an HMAC key.
type VerifyOptions struct {
	// HMACKey is the key the log was written with (JSONLOptions.HMACKey);
	// nil for a plain SHA-256 chain.
	HMACKey []byte
	// MaxLineBytes bounds the length of one line; a longer line is
	// reported as ErrMalformedLine. Zero means 16 MiB.
	MaxLineBytes int
	// ExpectHead, when set, is a hash the host anchored elsewhere (see
	// VerifyReport.LastHash and JSONL.Head): the chain must contain a
	// record with that hash, or records were removed from its end.
	ExpectHead string
}

// VerifyReport summarises the intact prefix of a log.
type VerifyReport struct {
	// Records is the number of records verified before the first broken
	// one (all of them when Verify returns nil).
	Records uint64
	// LastHash is the hash of the last verified record, "" for none. Keep
	// it somewhere the log's writer cannot change (a ticket, another
	// system) to detect later removal of records from the end, which the
	// chain alone cannot show.
	LastHash string
}

// Verify reads a hash-chained JSON Lines log written by JSONL and checks
// that every line parses, seqs run 1, 2, 3, ... without gaps, each prev is
// the hash of the record before, and each hash matches its line. It stops at
// the first broken record and returns a *VerifyError describing it, together
// with a report of the intact prefix. An empty log is valid. Read errors
// from r are returned as they are.
//
// Verify never panics on any input and holds at most one line in memory.
func Verify(r io.Reader, opts VerifyOptions) (VerifyReport, error) {
	max := opts.MaxLineBytes
	if max <= 0 {
		max = 16 << 20
	}
	h := newHasher(opts.HMACKey)
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		rep      VerifyReport
		line     []byte
		sum      []byte
		headSeen bool
	)
	for lineNo := 1; ; lineNo++ {
		var complete, tooLong bool
		var err error
		line, complete, tooLong, err = readLine(br, line[:0], max)
		if err != nil {
			return rep, err
		}
		if len(line) == 0 && !complete && !tooLong {
			// Clean end of input.
			if opts.ExpectHead != "" && !headSeen {
				return rep, &VerifyError{Line: lineNo, Reason: ErrHeadMissing,
					Detail: "no record has the anchored hash " + opts.ExpectHead}
			}
			return rep, nil
		}
		if tooLong {
			return rep, &VerifyError{Line: lineNo, Reason: ErrMalformedLine,
				Detail: "line longer than " + strconv.Itoa(max) + " bytes"}
		}
		if !complete {
			seq, _ := claimedSeq(line)
			return rep, &VerifyError{Line: lineNo, Seq: seq, Reason: ErrTruncated}
		}
		var hashHex string
		sum, hashHex, err = checkLine(h, line, rep.LastHash, rep.Records+1, sum)
		if err != nil {
			err.(*VerifyError).Line = lineNo
			return rep, err
		}
		rep.Records++
		rep.LastHash = hashHex
		if hashHex == opts.ExpectHead {
			headSeen = true
		}
	}
}

// readLine appends the next line of br (without its '\n') to buf. complete
// reports whether the line ended with '\n'. Past max bytes it stops
// appending, reports tooLong, and still consumes the line.
func readLine(br *bufio.Reader, buf []byte, max int) (line []byte, complete, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		complete = err == nil
		if complete {
			chunk = chunk[:len(chunk)-1]
		}
		if len(buf)+len(chunk) > max {
			tooLong = true
		} else if !tooLong {
			buf = append(buf, chunk...)
		}
		switch {
		case err == nil:
			return buf, true, tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return buf, false, tooLong, nil
		default:
			return buf, false, tooLong, err
		}
	}
}

// hashSuffix is the shape of a line's end: ,"hash":"<64 hex>"}
const (
	hashPrefix   = `,"hash":"`
	hashSuffixLn = len(hashPrefix) + sha256.Size*2 + len(`"}`)
)

// lineFields are the members of a line that the chain checks.
type lineFields struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// checkLine verifies one line (without '\n') against the chain so far and
// returns its hash. Errors are *VerifyError without Line set.
func checkLine(h hash.Hash, line []byte, prev string, wantSeq uint64, sum []byte) ([]byte, string, error) {
	fail := func(seq uint64, reason error, detail string) ([]byte, string, error) {
		return sum, "", &VerifyError{Seq: seq, Reason: reason, Detail: detail}
	}
	var rec Record
	if err := json.Unmarshal(line, &rec); err != nil {
		seq, _ := claimedSeq(line)
		return fail(seq, ErrMalformedLine, err.Error())
	}
	body, hashHex, ok := splitHash(line)
	if !ok || rec.Seq == 0 {
		return fail(rec.Seq, ErrMalformedLine, `line does not end with a "hash" member`)
	}
	if rec.Seq != wantSeq {
		return fail(rec.Seq, ErrSeqMismatch, fmt.Sprintf("got seq %d, want %d", rec.Seq, wantSeq))
	}
	if rec.Prev != prev {
		return fail(rec.Seq, ErrPrevMismatch, fmt.Sprintf("got prev %.12q, want %.12q", rec.Prev, prev))
	}
	sum = chainSum(h, sum[:0], []byte(prev), body, true)
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], []byte(hashHex)); err != nil || !hmac.Equal(got[:], sum) {
		return fail(rec.Seq, ErrHashMismatch, "")
	}
	return sum, hashHex, nil
}

// splitHash splits a line into its body without the closing brace and the
// hex hash of its trailing member. The body to hash is that prefix plus "}".
func splitHash(line []byte) (bodyPrefix []byte, hashHex string, ok bool) {
	n := len(line)
	if n < hashSuffixLn+1 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return nil, "", false
	}
	start := n - hashSuffixLn
	if !bytes.Equal(line[start:start+len(hashPrefix)], []byte(hashPrefix)) {
		return nil, "", false
	}
	hx := line[start+len(hashPrefix) : n-2]
	for _, c := range hx {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, "", false
		}
	}
	return line[:start], string(hx), true
}

// claimedSeq extracts the seq of a possibly broken line, best effort.
func claimedSeq(line []byte) (uint64, bool) {
	const p = `{"seq":`
	if !bytes.HasPrefix(line, []byte(p)) {
		return 0, false
	}
	rest := line[len(p):]
	i := 0
	for i < len(rest) && i < 20 && '0' <= rest[i] && rest[i] <= '9' {
		i++
	}
	n, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	return n, err == nil
}

// newHasher returns SHA-256, or HMAC-SHA256 when key is not nil.
func newHasher(key []byte) hash.Hash {
	if key != nil {
		return hmac.New(sha256.New, key)
	}
	return sha256.New()
}

// chainSum appends H(prev || body) to dst, where body is bodyPrefix
// followed by "}" when closeBrace is set.
func chainSum(h hash.Hash, dst []byte, prev, bodyPrefix []byte, closeBrace bool) []byte {
	h.Reset()
	h.Write(prev)
	h.Write(bodyPrefix)
	if closeBrace {
		h.Write([]byte{'}'})
	}
	return h.Sum(dst)
}

// ReadJSONL decodes the records of a JSON Lines log written by JSONL,
// without verifying the chain (use Verify for that). Seq, Prev and Hash are
// filled in; numbers in Data decode as json.Number so that large integers
// keep their value. It stops at the first line that does not decode and
// returns the records before it with the error.
func ReadJSONL(r io.Reader) ([]Record, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var out []Record
	for {
		var rec Record
		if err := dec.Decode(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("audit: read record %d: %w", len(out)+1, err)
		}
		out = append(out, rec)
	}
}

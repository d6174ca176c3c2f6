package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Link query parameters.
const (
	paramApproval = "a"
	paramApprover = "u"
	paramExpires  = "e"
	paramSig      = "s"
)

// Link refusals. The handler answers each with a page that says what is
// wrong and audits it; they are exported so that hosts can test for them
// with Verify.
var (
	// ErrLinkIncomplete: a link parameter is missing or malformed.
	ErrLinkIncomplete = errors.New("the approval link is incomplete")
	// ErrLinkForged: the signature does not match the link's approval id,
	// approver and expiry (forged, or any of them altered).
	ErrLinkForged = errors.New("the approval link's signature is not valid")
	// ErrLinkExpired: the link's expiry has passed.
	ErrLinkExpired = errors.New("the approval link has expired")
	// ErrLinkUsed: the link was already used to give a verdict.
	ErrLinkUsed = errors.New("the approval link was already used")
)

// link is a parsed, not yet verified approval link.
type link struct {
	approvalID string
	approver   string
	expires    time.Time
	sig        []byte
}

// macFields returns HMAC-SHA256 under key of the length-prefixed fields,
// so that no two field lists share an input.
func macFields(key []byte, fields ...string) []byte {
	m := hmac.New(sha256.New, key)
	var n [binary.MaxVarintLen64]byte
	for _, f := range fields {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}

func linkMAC(key []byte, approvalID, approver string, expires time.Time) []byte {
	return macFields(key, "iamplaybook approval link v1", approvalID, approver, strconv.FormatInt(expires.Unix(), 10))
}

// parseLink reads the link parameters of q.
func parseLink(q url.Values) (link, error) {
	l := link{approvalID: q.Get(paramApproval), approver: q.Get(paramApprover)}
	if l.approvalID == "" || l.approver == "" {
		return link{}, fmt.Errorf("%w: approval id or approver missing", ErrLinkIncomplete)
	}
	sec, err := strconv.ParseInt(q.Get(paramExpires), 10, 64)
	if err != nil || sec <= 0 {
		return link{}, fmt.Errorf("%w: expiry missing or malformed", ErrLinkIncomplete)
	}
	l.expires = time.Unix(sec, 0).UTC()
	l.sig, err = base64.RawURLEncoding.DecodeString(q.Get(paramSig))
	if err != nil || len(l.sig) != sha256.Size {
		return link{}, fmt.Errorf("%w: signature missing or malformed", ErrLinkIncomplete)
	}
	return l, nil
}

// verify checks the signature in constant time, then the expiry.
func (l link) verify(key []byte, now time.Time) error {
	if !hmac.Equal(l.sig, linkMAC(key, l.approvalID, l.approver, l.expires)) {
		return ErrLinkForged
	}
	if !now.Before(l.expires) {
		return fmt.Errorf("%w (at %s)", ErrLinkExpired, l.expires.Format(time.RFC3339))
	}
	return nil
}

// tokenKey names the link in the used-token set: a hash of its signature,
// so the set holds nothing that could rebuild a link.
func (l link) tokenKey() string {
	sum := sha256.Sum256(l.sig)
	return hex.EncodeToString(sum[:])
}

// UsedTokens remembers which links were used, so that each gives at most one
// verdict. Implementations must be safe for concurrent use.
//
// A restart of a process that keeps them in memory forgets them: a link
// could then be used again until it expires, but the runner still refuses a
// second verdict from the same approver (playbook.ErrInvalidVerdict), so a
// replayed link never counts twice. A host that wants the link itself
// refused after a restart keeps the set in durable storage: package
// store/sqlite provides one, Store.UsedTokens, kept in the same file as the
// runs and shared by every process that opens it.
type UsedTokens interface {
	// Claim marks key used until until (after which the link is expired
	// anyway) and reports true, or reports false when key is already used.
	Claim(ctx context.Context, key string, until time.Time) (bool, error)
	// Used reports whether key was claimed and not released.
	Used(ctx context.Context, key string) (bool, error)
	// Release forgets a claim whose verdict could not be delivered, so the
	// approver can try again.
	Release(ctx context.Context, key string) error
}

// MemoryTokens is an in-memory UsedTokens. Entries are dropped once their
// link has expired. The zero value is ready to use.
type MemoryTokens struct {
	mu     sync.Mutex
	used   map[string]time.Time
	claims int
}

var _ UsedTokens = (*MemoryTokens)(nil)

// NewMemoryTokens returns an empty set.
func NewMemoryTokens() *MemoryTokens { return &MemoryTokens{} }

// Claim implements UsedTokens.
func (m *MemoryTokens) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used == nil {
		m.used = make(map[string]time.Time)
	}
	if _, ok := m.used[key]; ok {
		return false, nil
	}
	m.used[key] = until
	if m.claims++; m.claims%256 == 0 {
		now := time.Now()
		for k, t := range m.used {
			if now.After(t) {
				delete(m.used, k)
			}
		}
	}
	return true, nil
}

// Used implements UsedTokens.
func (m *MemoryTokens) Used(ctx context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.used[key]
	return ok, nil
}

// Release implements UsedTokens.
func (m *MemoryTokens) Release(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.used, key)
	return nil
}

// formToken binds a rendered form to its link, the summary shown and the
// time it was issued, so that only a page this server rendered can post a
// verdict (a cross-site form cannot forge it without the key).
func formToken(key []byte, l link, summaryHash string, issued time.Time) string {
	ts := strconv.FormatInt(issued.Unix(), 10)
	mac := macFields(key, "iamplaybook approval form v1", string(l.sig), summaryHash, ts)
	return ts + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// checkFormToken verifies tok in constant time and that it is younger than
// ttl.
func checkFormToken(key []byte, l link, summaryHash, tok string, now time.Time, ttl time.Duration) error {
	ts, macText, ok := strings.Cut(tok, ".")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return errors.New("the form token is missing or malformed")
	}
	got, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil {
		return errors.New("the form token is malformed")
	}
	want := macFields(key, "iamplaybook approval form v1", string(l.sig), summaryHash, ts)
	if !hmac.Equal(got, want) {
		return errors.New("the form was not issued by this server for this link")
	}
	issued := time.Unix(sec, 0)
	if issued.After(now.Add(time.Minute)) || now.Sub(issued) > ttl {
		return errors.New("the form has expired; open the link again")
	}
	return nil
}

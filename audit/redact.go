package audit

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RedactedValue is the value that replaces a secret in a redacted record.
const RedactedValue = "[REDACTED]"

// Redact returns a copy of r from which secrets are removed. It never
// modifies r. Data is copied on write: the maps and slices in which
// something is redacted or converted are new, and the parts that needed no
// change are shared with r (sinks must not modify Data; see Record).
//
// Two rules apply, at every depth of Data:
//
//  1. The value of a secret-looking key is replaced by [RedactedValue]. A key is
//     secret-looking when, split into words (snake_case, kebab-case,
//     camelCase), one word contains password, passwd, passphrase, passcode,
//     secret, token, authorization, cookie, assertion, credential, bearer,
//     apikey or privatekey, or is pwd or otp, or two adjacent words form a
//     named key (api_key, private_key, signing_key, access_key, ...). Keys
//     whose last word names metadata about a secret rather than the secret
//     itself are kept: token_type, password_changed_at,
//     lastPasswordChangeDateTime, token_expires_in, credential_count,
//     token_id. Boolean and null values are kept even under a secret key
//     (password_reset_required: true carries no secret and is evidence).
//     Keys such as idempotency_key or session_id are not secrets, nor are
//     URIs used as keys (the event types of a Security Event Token, such as
//     ".../risc/event-type/credential-compromise").
//  2. Inside any string value (and in Record.Error), bearer credentials
//     ("Bearer xxx", "SSWS xxx") and JWTs (base64url segments starting with
//     "eyJ") are replaced, leaving the surrounding text.
//
// Data values of types other than maps, slices, strings, numbers, booleans,
// time.Time and Verbatim (structs, typed maps) are converted to their JSON form
// (map[string]any, []any, json.Number) so that their fields can be
// inspected; a value that cannot be encoded is kept as it is (a sink that
// encodes it then fails).
//
// Redact is safe for concurrent use. Every sink in this package redacts
// records before storing them.
func Redact(r Record) Record {
	r.Error = redactString(r.Error)
	if r.Data != nil {
		r.Data = redactMap(r.Data)
	}
	return r
}

// Verbatim is implemented by Data values that carry no secret by
// construction, such as the typed facts and decisions the engine itself
// produces. Redact keeps such a value as it is instead of inspecting its
// JSON form, which saves the encoding on the hot path. Never implement it
// on a type that holds provider payloads or host-supplied free text.
type Verbatim interface {
	AuditVerbatim()
}

// Redacted returns Redact(r).
func (r Record) Redacted() Record { return Redact(r) }

func redactMap(m map[string]any) map[string]any {
	out, _ := redactMapC(m)
	return out
}

// redactMapC redacts m copy-on-write: it returns m itself, and false, when
// nothing in it needed a change, so that the common case (no secrets)
// allocates nothing.
func redactMapC(m map[string]any) (map[string]any, bool) {
	out, changed := cowMap(nil, m, func(k string, v any) (any, bool) {
		if isSecretKey(k) && !keepUnderSecretKey(v) {
			return RedactedValue, true
		}
		return redactValueC(v)
	})
	if !changed {
		return m, false
	}
	return out.(map[string]any), true
}

func keepUnderSecretKey(v any) bool {
	switch v.(type) {
	case nil, bool:
		return true
	}
	return false
}

func redactValue(v any) any {
	out, _ := redactValueC(v)
	return out
}

// redactValueC returns v redacted and whether that differs from v.
func redactValueC(v any) (any, bool) {
	switch x := v.(type) {
	case nil, bool, float64, float32, int, int8, int16, int32, int64,
		uint, uint8, uint16, uint32, uint64, json.Number, time.Time, time.Duration:
		return v, false
	case string:
		r := redactString(x)
		if r == x {
			return v, false // the original interface: no new allocation
		}
		return r, true
	case map[string]any:
		m, changed := redactMapC(x)
		if !changed {
			return v, false
		}
		return m, true
	case []any:
		return cowSlice(v, x, redactValueC)
	case map[string]string:
		return cowMap(v, x, func(k, e string) (string, bool) {
			if isSecretKey(k) {
				return RedactedValue, e != RedactedValue
			}
			r := redactString(e)
			return r, r != e
		})
	case []string:
		return cowSlice(v, x, func(e string) (string, bool) {
			r := redactString(e)
			return r, r != e
		})
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactMap(e)
		}
		return out, true
	}
	if _, ok := v.(Verbatim); ok {
		return v, false
	}
	// Anything else (structs, typed maps and slices): inspect its JSON form.
	b, err := json.Marshal(v)
	if err != nil {
		return v, false
	}
	var generic any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return v, false
	}
	return redactValue(generic), true
}

var (
	bearerRE = regexp.MustCompile(`(?i)\b(bearer|ssws)(\s+)[A-Za-z0-9._~+/=-]+`)
	jwtRE    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){2,4}`)
)

// redactString removes bearer credentials and JWTs from s.
func redactString(s string) string {
	if s == "" {
		return s
	}
	if strings.Contains(s, "eyJ") && jwtRE.MatchString(s) {
		s = jwtRE.ReplaceAllString(s, RedactedValue)
	}
	if (containsFold(s, "bearer") || containsFold(s, "ssws")) && bearerRE.MatchString(s) {
		s = bearerRE.ReplaceAllString(s, "${1}${2}"+RedactedValue)
	}
	return s
}

// containsFold reports whether s contains sub (lower-case ASCII) ignoring
// ASCII case.
func containsFold(s, sub string) bool {
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// secretWordParts are substrings that make a word secret.
var secretWordParts = []string{
	"password", "passwd", "passphrase", "passcode", "secret", "token",
	"authorization", "cookie", "assertion", "credential", "bearer",
	"apikey", "privatekey",
}

// secretWords are words that are secret only when they match exactly.
var secretWords = map[string]bool{"pwd": true, "otp": true}

// keyPrefixes form a secret with a following "key" word (api_key, ...).
var keyPrefixes = map[string]bool{
	"api": true, "private": true, "secret": true, "signing": true,
	"encryption": true, "access": true, "master": true, "session": true,
	"client": true, "shared": true, "ssh": true,
}

// metadataWords, as the last word of a key, describe a secret without
// holding it.
var metadataWords = map[string]bool{
	"type": true, "at": true, "time": true, "date": true, "datetime": true,
	"timestamp": true, "count": true, "expires": true, "expiry": true,
	"expiration": true, "in": true, "id": true, "ids": true, "ttl": true,
	"age": true, "length": true, "policy": true,
}

// keyCache memoises isSecretKey: Data keys come from a small, fixed set in
// practice. It stops growing at keyCacheMax entries so that hostile keys
// cannot exhaust memory.
var (
	keyCache    sync.Map // string -> bool
	keyCacheLen atomic.Int64
)

const keyCacheMax = 4096

// isSecretKey reports whether a Data key names a secret (see Redact).
func isSecretKey(k string) bool {
	if v, ok := keyCache.Load(k); ok {
		return v.(bool)
	}
	secret := classifyKey(k)
	if len(k) <= 64 && keyCacheLen.Load() < keyCacheMax {
		if _, loaded := keyCache.LoadOrStore(k, secret); !loaded {
			keyCacheLen.Add(1)
		}
	}
	return secret
}

func classifyKey(k string) bool {
	if isURIKey(k) {
		return false
	}
	words := splitKey(k)
	if len(words) == 0 {
		return false
	}
	if len(words) > 1 && metadataWords[words[len(words)-1]] {
		return false
	}
	for i, w := range words {
		if secretWords[w] {
			return true
		}
		for _, p := range secretWordParts {
			if strings.Contains(w, p) {
				return true
			}
		}
		if w == "key" && i > 0 && keyPrefixes[words[i-1]] {
			return true
		}
	}
	return false
}

// isURIKey reports whether k is a URI, as the event-type keys of a Security
// Event Token are ("https://schemas.openid.net/secevent/risc/event-type/
// credential-compromise"): such a key names a kind of thing, not a secret,
// and the keys inside its value are judged on their own.
func isURIKey(k string) bool {
	return strings.Contains(k, "://") || strings.HasPrefix(strings.ToLower(k), "urn:")
}

// splitKey splits a key into lower-case words at '_', '-', '.', ' ' and
// lower-to-upper case changes.
func splitKey(k string) []string {
	var words []string
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ' || c == ':' || c == '/':
			flush()
		case 'A' <= c && c <= 'Z':
			if i > 0 && (('a' <= k[i-1] && k[i-1] <= 'z') || ('0' <= k[i-1] && k[i-1] <= '9')) {
				flush()
			}
			cur = append(cur, c+'a'-'A')
		default:
			cur = append(cur, c)
		}
	}
	flush()
	return words
}

// cowSlice applies f to each element of s, copying s only once an element
// changes. It returns orig (the interface s came in) and false when
// nothing changed, so that the common case allocates nothing.
func cowSlice[E any](orig any, s []E, f func(E) (E, bool)) (any, bool) {
	var out []E
	for i, e := range s {
		ne, changed := f(e)
		if changed && out == nil {
			out = make([]E, len(s))
			copy(out, s)
		}
		if out != nil {
			out[i] = ne
		}
	}
	if out == nil {
		return orig, false
	}
	return out, true
}

// cowMap is cowSlice for maps: f sees each key and value.
func cowMap[V any](orig any, m map[string]V, f func(string, V) (V, bool)) (any, bool) {
	var out map[string]V
	for k, v := range m {
		nv, changed := f(k, v)
		if changed && out == nil {
			out = make(map[string]V, len(m))
			for k2, v2 := range m {
				out[k2] = v2
			}
		}
		if out != nil {
			out[k] = nv
		}
	}
	if out == nil {
		return orig, false
	}
	return out, true
}

package ssf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// MaxClaimsBytes bounds the decoded claims of one SET that ParseClaims
// accepts.
const MaxClaimsBytes = 256 << 10

const (
	maxClaimLen = 1024 // bytes in iss, jti, txn and each audience
	maxAudience = 32   // entries in aud
	maxEvents   = 16   // event types in one SET
)

// SET is the claims set of a Security Event Token (RFC 8417), as profiled
// by the Shared Signals Framework. It is a plain value; Raw holds the
// claims exactly as received.
type SET struct {
	// Issuer is the iss claim. Required.
	Issuer string
	// ID is the jti claim, unique per issuer. Required.
	ID string
	// IssuedAt is the iat claim. Required.
	IssuedAt time.Time
	// Audience is the aud claim, a string or an array on the wire.
	Audience []string
	// Transaction is the txn claim: the same for every SET that one cause
	// produced.
	Transaction string
	// TimeOfEvent is the RFC 8417 toe claim, when present.
	TimeOfEvent time.Time
	// Subject is the top-level sub_id claim, when present (SSF requires
	// it; Okta puts the subject inside the event instead).
	Subject *SubjectID
	// Events holds one entry per member of the events claim, ordered by
	// type. The SSF profile says a SET should carry exactly one.
	Events []EventClaim
	// Raw is the claims JSON as received.
	Raw json.RawMessage
}

// EventClaim is one member of a SET's events claim.
type EventClaim struct {
	// Type is the event type URI (the member's name).
	Type string
	// Subject is the subject given inside the event object (legacy CAEP
	// and RISC, Okta), when present.
	Subject *SubjectID
	// Timestamp is event_timestamp, read as NumericDate seconds, or as
	// milliseconds when the value is too large to be seconds (Okta).
	Timestamp time.Time
	// InitiatingEntity is initiating_entity (admin, user, policy, system).
	InitiatingEntity string
	// ReasonAdmin and ReasonUser are reason_admin and reason_user, by
	// language tag.
	ReasonAdmin map[string]string
	ReasonUser  map[string]string
	// Claims are the event object's members as received.
	Claims map[string]json.RawMessage
}

// String returns the claim named name when it is a JSON string, and "" otherwise.
func (e EventClaim) String(name string) string {
	var s string
	if raw, ok := e.Claims[name]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// SubjectOf returns the subject the event is about: the event's own
// subject when it has one, else the SET's sub_id.
func (s *SET) SubjectOf(e EventClaim) (SubjectID, bool) {
	if e.Subject != nil {
		return *e.Subject, true
	}
	if s.Subject != nil {
		return *s.Subject, true
	}
	return SubjectID{}, false
}

// millisThreshold separates event_timestamp in seconds from milliseconds:
// 1e11 seconds is the year 5138, 1e11 milliseconds is 1973.
const millisThreshold = 1e11

// ParseClaims decodes and checks the claims set of a SET. It does not
// verify a signature: use a Verifier for tokens from the network. It
// requires iss, jti and iat, an events object with at least one event
// whose value is an object, and well-formed subject identifiers; it
// accepts aud as a string or an array, event_timestamp in seconds or
// milliseconds, and ignores unknown claims. Errors wrap ErrMalformed and
// name the claim at fault.
func ParseClaims(data []byte) (*SET, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if len(data) > MaxClaimsBytes {
		return nil, bad("claims are %d bytes, at most %d allowed", len(data), MaxClaimsBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, bad("claims are not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("trailing data after the claims object")
	}
	set := &SET{Raw: json.RawMessage(slices.Clone(data))}
	var err error
	if set.Issuer, err = stringClaim(m, "iss", true); err != nil {
		return nil, bad("%v", err)
	}
	if set.ID, err = stringClaim(m, "jti", true); err != nil {
		return nil, bad("%v", err)
	}
	if set.Transaction, err = stringClaim(m, "txn", false); err != nil {
		return nil, bad("%v", err)
	}
	iat, ok, err := numericDate(m, "iat")
	if err != nil {
		return nil, bad("%v", err)
	}
	if !ok {
		return nil, bad("claim \"iat\" is required")
	}
	set.IssuedAt = iat
	if set.TimeOfEvent, _, err = numericDate(m, "toe"); err != nil {
		return nil, bad("%v", err)
	}
	if set.Audience, err = audience(m); err != nil {
		return nil, bad("%v", err)
	}
	if raw, ok := m["sub_id"]; ok && !isNull(raw) {
		id, err := ParseSubjectID(raw)
		if err != nil {
			return nil, bad("sub_id: %v", err)
		}
		set.Subject = &id
	}
	rawEvents, ok := m["events"]
	if !ok {
		return nil, bad("claim \"events\" is required")
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(rawEvents, &events); err != nil || events == nil {
		return nil, bad("claim \"events\" is not a JSON object")
	}
	if len(events) == 0 {
		return nil, bad("claim \"events\" holds no event")
	}
	if len(events) > maxEvents {
		return nil, bad("claim \"events\" holds %d events, at most %d allowed", len(events), maxEvents)
	}
	for _, typ := range slices.Sorted(maps.Keys(events)) {
		ev, err := parseEvent(typ, events[typ])
		if err != nil {
			return nil, bad("event %.80q: %v", typ, err)
		}
		set.Events = append(set.Events, ev)
	}
	return set, nil
}

func parseEvent(typ string, raw json.RawMessage) (EventClaim, error) {
	if strings.TrimSpace(typ) == "" || len(typ) > maxClaimLen {
		return EventClaim{}, fmt.Errorf("the event type is empty or longer than %d bytes", maxClaimLen)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var claims map[string]json.RawMessage
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return EventClaim{}, fmt.Errorf("the event is not a JSON object")
	}
	ev := EventClaim{Type: typ, Claims: claims}
	if raw, ok := claims["subject"]; ok && !isNull(raw) {
		id, err := ParseSubjectID(raw)
		if err != nil {
			return EventClaim{}, fmt.Errorf("subject: %w", err)
		}
		ev.Subject = &id
	}
	if raw, ok := claims["event_timestamp"]; ok && !isNull(raw) {
		t, err := eventTimestamp(raw)
		if err != nil {
			return EventClaim{}, fmt.Errorf("event_timestamp: %v", err)
		}
		ev.Timestamp = t
	}
	var err error
	if ev.InitiatingEntity, err = stringClaim(claims, "initiating_entity", false); err != nil {
		return EventClaim{}, err
	}
	for name, dst := range map[string]*map[string]string{"reason_admin": &ev.ReasonAdmin, "reason_user": &ev.ReasonUser} {
		raw, ok := claims[name]
		if !ok || isNull(raw) {
			continue
		}
		var r map[string]string
		if err := json.Unmarshal(raw, &r); err != nil {
			// Older drafts used a plain string.
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return EventClaim{}, fmt.Errorf("%s is neither an object of strings nor a string", name)
			}
			r = map[string]string{"": s}
		}
		*dst = r
	}
	return ev, nil
}

// eventTimestamp reads NumericDate seconds, or milliseconds when the value
// is too large to be seconds; integers are converted exactly.
func eventTimestamp(raw json.RawMessage) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || !isNumber(raw) {
		return time.Time{}, fmt.Errorf("not a number")
	}
	if i, err := n.Int64(); err == nil {
		if i < 0 {
			return time.Time{}, fmt.Errorf("negative")
		}
		if i >= millisThreshold {
			if i > 253402300799999 {
				return time.Time{}, fmt.Errorf("%d is not a time between 1970 and 9999", i)
			}
			return time.UnixMilli(i).UTC(), nil
		}
		return time.Unix(i, 0).UTC(), nil
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, fmt.Errorf("not a number")
	}
	if f >= millisThreshold {
		f /= 1000
	}
	return fromSeconds(f)
}

// isNumber reports whether raw is a JSON number (json.Number also takes a
// quoted one).
func isNumber(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9')
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func stringClaim(m map[string]json.RawMessage, name string, required bool) (string, error) {
	raw, ok := m[name]
	if !ok || isNull(raw) {
		if required {
			return "", fmt.Errorf("claim %q is required", name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("claim %q is not a string", name)
	}
	if required && strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("claim %q is empty", name)
	}
	if len(s) > maxClaimLen {
		return "", fmt.Errorf("claim %q is longer than %d bytes", name, maxClaimLen)
	}
	return s, nil
}

func number(raw json.RawMessage) (float64, error) {
	if !isNumber(raw) {
		return 0, fmt.Errorf("not a JSON number")
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	return n.Float64()
}

func fromSeconds(f float64) (time.Time, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 253402300799 { // 9999-12-31
		return time.Time{}, fmt.Errorf("%v is not a time between 1970 and 9999", f)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

func numericDate(m map[string]json.RawMessage, name string) (time.Time, bool, error) {
	raw, ok := m[name]
	if !ok || isNull(raw) {
		return time.Time{}, false, nil
	}
	f, err := number(raw)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("claim %q is not a number", name)
	}
	t, err := fromSeconds(f)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("claim %q: %v", name, err)
	}
	return t, true, nil
}

func audience(m map[string]json.RawMessage) ([]string, error) {
	raw, ok := m["aud"]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" || len(one) > maxClaimLen {
			return nil, fmt.Errorf("claim \"aud\" is empty or longer than %d bytes", maxClaimLen)
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("claim \"aud\" is neither a string nor an array of strings")
	}
	if len(many) > maxAudience {
		return nil, fmt.Errorf("claim \"aud\" lists %d audiences, at most %d allowed", len(many), maxAudience)
	}
	for _, a := range many {
		if a == "" || len(a) > maxClaimLen {
			return nil, fmt.Errorf("claim \"aud\" holds an empty or over-long entry")
		}
	}
	return many, nil
}

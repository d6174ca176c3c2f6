package playbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// EventType names the kind of signal an Event carries. The constants below
// are the types the runner knows; a playbook accepts other types only when
// they are listed in Playbook.ExtraEventTypes.
type EventType string

// Identity-risk signals.
const (
	// EventRiskySignIn is a sign-in an identity platform scored as risky.
	EventRiskySignIn EventType = "risk.signin"
	// EventRiskyUser is a user whose aggregate risk state changed.
	EventRiskyUser EventType = "risk.user"
	// EventCredentialCompromise says a credential is known to be leaked or
	// stolen (RISC credential-compromise, leaked-credentials detections).
	EventCredentialCompromise EventType = "risk.credential_compromise"
	// EventSessionSignal is a session-level signal (session revoked,
	// session context changed, token claims changed).
	EventSessionSignal EventType = "risk.session"
	// EventAccountSignal is an account-level signal from a transmitter
	// (account disabled, enabled, purged, identifier changed).
	EventAccountSignal EventType = "risk.account"
)

// Privilege events.
const (
	// EventRoleAssigned is a directory or admin role granted to the subject.
	EventRoleAssigned EventType = "privilege.role_assigned"
	// EventPrivilegedGroupAdded is the subject added to a privileged group.
	EventPrivilegedGroupAdded EventType = "privilege.group_member_added"
	// EventConfigChanged is a directory, role or policy configuration change
	// made by the subject.
	EventConfigChanged EventType = "privilege.config_changed"
)

// Hygiene findings, emitted by scheduled sweeps.
const (
	// EventOrphanedAccount is an account with no owner or no matching HR record.
	EventOrphanedAccount EventType = "hygiene.orphaned_account"
	// EventDormantPrivileged is a privileged account that has not been used.
	EventDormantPrivileged EventType = "hygiene.dormant_privileged"
	// EventDisabledWithSessions is a disabled account that still holds sessions.
	EventDisabledWithSessions EventType = "hygiene.disabled_with_sessions"
)

var knownEventTypes = map[EventType]bool{
	EventRiskySignIn: true, EventRiskyUser: true, EventCredentialCompromise: true,
	EventSessionSignal: true, EventAccountSignal: true,
	EventRoleAssigned: true, EventPrivilegedGroupAdded: true, EventConfigChanged: true,
	EventOrphanedAccount: true, EventDormantPrivileged: true, EventDisabledWithSessions: true,
}

// Known reports whether t is one of the event types declared by this package.
func (t EventType) Known() bool { return knownEventTypes[t] }

// RiskLevel is a coarse risk score. The zero value is RiskNone.
type RiskLevel int

// Risk levels, ordered: a higher value is riskier.
const (
	RiskNone RiskLevel = iota
	RiskLow
	RiskMedium
	RiskHigh
)

var riskNames = [...]string{"none", "low", "medium", "high"}

// String returns "none", "low", "medium" or "high".
func (l RiskLevel) String() string {
	if l < RiskNone || l > RiskHigh {
		return fmt.Sprintf("RiskLevel(%d)", int(l))
	}
	return riskNames[l]
}

// ParseRiskLevel parses the names String returns, case-insensitively. The
// empty string is RiskNone.
func ParseRiskLevel(s string) (RiskLevel, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return RiskNone, nil
	}
	for i, n := range riskNames {
		if n == s {
			return RiskLevel(i), nil
		}
	}
	return RiskNone, fmt.Errorf("playbook: unknown risk level %q (want none, low, medium or high)", s)
}

// MarshalText encodes the level as its name.
func (l RiskLevel) MarshalText() ([]byte, error) {
	if l < RiskNone || l > RiskHigh {
		return nil, fmt.Errorf("playbook: invalid risk level %d", int(l))
	}
	return []byte(riskNames[l]), nil
}

// UnmarshalText decodes a name produced by MarshalText.
func (l *RiskLevel) UnmarshalText(b []byte) error {
	v, err := ParseRiskLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Subject identifies the identity an event is about.
type Subject struct {
	// Provider names the identity provider that owns the account
	// ("entra", "okta", "fake", ...).
	Provider string `json:"provider,omitempty"`
	// ID is the provider's stable, immutable id of the account. Required.
	ID string `json:"id"`
	// Login is the sign-in name (UPN, email, username), when known.
	Login string `json:"login,omitempty"`
	// DisplayName is the human-readable name, when known.
	DisplayName string `json:"display_name,omitempty"`
}

// Key returns "provider:id", the identity's key across providers. Runs about
// the same Key are executed one after the other.
func (s Subject) Key() string { return s.Provider + ":" + s.ID }

// Matches reports whether identity names this subject: its ID, its Login or
// its Key, compared case-insensitively. Used to refuse self-approval.
func (s Subject) Matches(identity string) bool {
	identity = strings.TrimSpace(identity)
	if identity == "" {
		return false
	}
	for _, v := range []string{s.ID, s.Login, s.Key()} {
		if v != "" && strings.EqualFold(v, identity) {
			return true
		}
	}
	return false
}

// Event is one signal that may start a run. It is a plain value; triggers
// build it and hand it to the runner, which owns it from then on.
type Event struct {
	// ID uniquely identifies the signal at its source; events with the same
	// ID inside the de-duplication window start one run. When empty, the
	// runner derives one from the event's content (see Fingerprint).
	ID string `json:"id,omitempty"`
	// Type says what kind of signal this is.
	Type EventType `json:"type"`
	// Source names the trigger or system that produced the event.
	Source string `json:"source,omitempty"`
	// Subject is the identity the event is about. Subject.ID is required.
	Subject Subject `json:"subject"`
	// Actor is who caused the event (the admin who granted a role), when
	// known. The actor of an event may never approve its containment.
	Actor string `json:"actor,omitempty"`
	// Risk is the risk level the source assigned to the signal.
	Risk RiskLevel `json:"risk"`
	// Reason is a short human-readable description of the signal
	// ("unfamiliarFeatures", "leaked credentials").
	Reason string `json:"reason,omitempty"`
	// OccurredAt is when the signal happened at the source.
	OccurredAt time.Time `json:"occurred_at,omitzero"`
	// Attributes carries source-specific details as strings (ip, location,
	// role name, group id). Policies may read them.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Raw is the source payload, kept for the evidence trail. It must be
	// valid JSON when set.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Event validation errors. Validate and DecodeEvent wrap them, so callers
// can test with errors.Is.
var (
	// ErrInvalidEvent is the root of every event validation error.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrNoSubject means the event names no subject (Subject.ID is empty).
	ErrNoSubject = fmt.Errorf("%w: subject.id is required", ErrInvalidEvent)
	// ErrUnknownEventType means the event's type is not one the playbook
	// accepts.
	ErrUnknownEventType = fmt.Errorf("%w: unknown event type", ErrInvalidEvent)
)

// Bounds on an event's size, so that a hostile or broken source cannot
// bloat the store and the audit trail. They are generous for real signals.
const (
	maxIDLen        = 512     // ids, provider and source names
	maxAttributes   = 256     // entries in Attributes
	maxAttrKeyLen   = 128     // bytes in an attribute name
	maxAttrValueLen = 8 << 10 // bytes in an attribute value
	maxTextLen      = 8 << 10 // bytes in Reason, Actor, Login, DisplayName
	maxRawLen       = 1 << 20 // bytes of Raw
)

// Validate checks the event's own consistency: a subject, a known type (or
// one listed in extra), a valid risk level, bounded sizes (ids and names
// 512 bytes, free text 8 KiB, at most 256 attributes, Raw 1 MiB) and valid
// JSON in Raw. Errors wrap ErrInvalidEvent and name the offending field.
func (e Event) Validate(extra ...EventType) error {
	if strings.TrimSpace(e.Subject.ID) == "" {
		return ErrNoSubject
	}
	if e.Type == "" {
		return fmt.Errorf("%w: type is required", ErrInvalidEvent)
	}
	if !e.Type.Known() {
		found := false
		for _, t := range extra {
			if t == e.Type {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%w %q", ErrUnknownEventType, e.Type)
		}
	}
	if e.Risk < RiskNone || e.Risk > RiskHigh {
		return fmt.Errorf("%w: risk %d is out of range", ErrInvalidEvent, int(e.Risk))
	}
	for name, v := range map[string]string{"id": e.ID, "subject.id": e.Subject.ID, "subject.provider": e.Subject.Provider, "source": e.Source} {
		if len(v) > maxIDLen {
			return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidEvent, name, maxIDLen)
		}
	}
	for name, v := range map[string]string{"reason": e.Reason, "actor": e.Actor, "subject.login": e.Subject.Login, "subject.display_name": e.Subject.DisplayName} {
		if len(v) > maxTextLen {
			return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidEvent, name, maxTextLen)
		}
	}
	if len(e.Attributes) > maxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d allowed", ErrInvalidEvent, len(e.Attributes), maxAttributes)
	}
	for k, v := range e.Attributes {
		if len(k) > maxAttrKeyLen || len(v) > maxAttrValueLen {
			return fmt.Errorf("%w: attribute %.40q is longer than allowed (%d-byte names, %d-byte values)", ErrInvalidEvent, k, maxAttrKeyLen, maxAttrValueLen)
		}
	}
	if len(e.Raw) > maxRawLen {
		return fmt.Errorf("%w: raw is %d bytes, at most %d allowed", ErrInvalidEvent, len(e.Raw), maxRawLen)
	}
	if len(e.Raw) > 0 && !json.Valid(e.Raw) {
		return fmt.Errorf("%w: raw is not valid JSON", ErrInvalidEvent)
	}
	return nil
}

// Fingerprint returns a stable id derived from the event's type, source,
// subject, occurrence time and reason. The runner uses it as the event's ID
// when the source gave none, so that a redelivered signal is still
// recognised as a duplicate.
func (e Event) Fingerprint() string {
	h := sha256.New()
	for _, s := range []string{string(e.Type), e.Source, e.Subject.Key(), e.OccurredAt.UTC().Format(time.RFC3339Nano), e.Reason} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "fp-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// MaxEventBytes bounds the JSON form of one event that DecodeEvent accepts.
const MaxEventBytes = 2 << 20

// DecodeEvent parses one event from its JSON form (the form json.Marshal of
// an Event produces) and validates it. Unknown fields, trailing data and
// invalid values are errors that wrap ErrInvalidEvent and say what is wrong.
// Types outside the built-in set are accepted only when listed in extra.
func DecodeEvent(data []byte, extra ...EventType) (Event, error) {
	if len(data) > MaxEventBytes {
		return Event{}, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidEvent, len(data), MaxEventBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var e Event
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, fmt.Errorf("%w: trailing data after the event object", ErrInvalidEvent)
	}
	if err := e.Validate(extra...); err != nil {
		return Event{}, err
	}
	return e, nil
}

package ssf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Event type URI prefixes.
const (
	CAEPPrefix = "https://schemas.openid.net/secevent/caep/event-type/"
	RISCPrefix = "https://schemas.openid.net/secevent/risc/event-type/"
	SSFPrefix  = "https://schemas.openid.net/secevent/ssf/event-type/"
)

// CAEP event types (OpenID CAEP 1.0).
const (
	CAEPSessionRevoked         = CAEPPrefix + "session-revoked"
	CAEPTokenClaimsChange      = CAEPPrefix + "token-claims-change"
	CAEPCredentialChange       = CAEPPrefix + "credential-change"
	CAEPAssuranceLevelChange   = CAEPPrefix + "assurance-level-change"
	CAEPDeviceComplianceChange = CAEPPrefix + "device-compliance-change"
	CAEPRiskLevelChange        = CAEPPrefix + "risk-level-change"
)

// RISC event types (OpenID RISC 1.0).
const (
	RISCAccountDisabled      = RISCPrefix + "account-disabled"
	RISCAccountEnabled       = RISCPrefix + "account-enabled"
	RISCAccountPurged        = RISCPrefix + "account-purged"
	RISCCredentialCompromise = RISCPrefix + "credential-compromise"
	RISCIdentifierChanged    = RISCPrefix + "identifier-changed"
	RISCIdentifierRecycled   = RISCPrefix + "identifier-recycled"
	// RISCSessionsRevoked is deprecated in favour of CAEPSessionRevoked;
	// both are accepted.
	RISCSessionsRevoked = RISCPrefix + "sessions-revoked"
)

// SSF stream events: answered, never turned into a run.
const (
	SSFVerification  = SSFPrefix + "verification"
	SSFStreamUpdated = SSFPrefix + "stream-updated"
)

// EventSource is the playbook.Event.Source of every event this package
// produces.
const EventSource = "ssf"

// Attribute names set on the events this package produces. Names avoid the
// words the audit redactor treats as secrets ("credential", "token"), so
// that the evidence survives redaction.
const (
	AttrIssuer      = "ssf.iss"
	AttrJTI         = "ssf.jti"
	AttrEventType   = "ssf.event_type"
	AttrTransaction = "ssf.txn"
	AttrSubject     = "ssf.subject"   // the principal, "format:value"
	AttrDevice      = "ssf.device"    // complex subject's device member
	AttrSession     = "ssf.session"   // complex subject's session member
	AttrTenant      = "ssf.tenant"    // complex subject's tenant member
	AttrInitiator   = "ssf.initiator" // initiating_entity
	AttrReasonAdmin = "ssf.reason_admin"
	AttrReasonUser  = "ssf.reason_user"
	AttrCredKind    = "ssf.cred_kind"      // credential_type
	AttrChangeType  = "ssf.change_type"    // credential-change change_type
	AttrPrincipal   = "ssf.principal"      // risk-level-change principal
	AttrLevel       = "ssf.current_level"  // risk, assurance or compliance level now
	AttrPrevious    = "ssf.previous_level" // before the change
	AttrRiskReason  = "ssf.risk_reason"
	AttrNamespace   = "ssf.namespace"
	AttrDirection   = "ssf.change_direction"
	AttrReason      = "ssf.reason"    // account-disabled reason
	AttrNewValue    = "ssf.new_value" // identifier-changed new-value
)

// Mapping is how one event type becomes a playbook.Event.
type mapping struct {
	typ  playbook.EventType
	risk func(e EventClaim) (playbook.RiskLevel, error)
	// claims copied to attributes: event claim name -> attribute name
	attrs map[string]string
}

func fixed(l playbook.RiskLevel) func(EventClaim) (playbook.RiskLevel, error) {
	return func(EventClaim) (playbook.RiskLevel, error) { return l, nil }
}

var mappings = map[string]mapping{
	CAEPSessionRevoked:    {typ: playbook.EventSessionSignal, risk: fixed(playbook.RiskLow)},
	CAEPTokenClaimsChange: {typ: playbook.EventSessionSignal, risk: fixed(playbook.RiskLow)},
	CAEPCredentialChange: {typ: playbook.EventAccountSignal, risk: fixed(playbook.RiskLow),
		attrs: map[string]string{"credential_type": AttrCredKind, "change_type": AttrChangeType}},
	CAEPAssuranceLevelChange: {typ: playbook.EventSessionSignal,
		risk: func(e EventClaim) (playbook.RiskLevel, error) {
			if e.String("change_direction") == "decrease" {
				return playbook.RiskMedium, nil
			}
			return playbook.RiskLow, nil
		},
		attrs: map[string]string{"namespace": AttrNamespace, "current_level": AttrLevel, "previous_level": AttrPrevious, "change_direction": AttrDirection}},
	CAEPDeviceComplianceChange: {typ: playbook.EventSessionSignal,
		risk: func(e EventClaim) (playbook.RiskLevel, error) {
			if e.String("current_status") == "not-compliant" {
				return playbook.RiskMedium, nil
			}
			return playbook.RiskLow, nil
		},
		attrs: map[string]string{"current_status": AttrLevel, "previous_status": AttrPrevious}},
	CAEPRiskLevelChange: {typ: playbook.EventRiskyUser,
		risk: func(e EventClaim) (playbook.RiskLevel, error) {
			cur := e.String("current_level")
			switch strings.ToUpper(cur) {
			case "LOW":
				return playbook.RiskLow, nil
			case "MEDIUM":
				return playbook.RiskMedium, nil
			case "HIGH":
				return playbook.RiskHigh, nil
			}
			return 0, fmt.Errorf("risk-level-change current_level %.40q is not LOW, MEDIUM or HIGH", cur)
		},
		attrs: map[string]string{"principal": AttrPrincipal, "current_level": AttrLevel, "previous_level": AttrPrevious, "risk_reason": AttrRiskReason}},
	RISCAccountDisabled: {typ: playbook.EventAccountSignal,
		risk: func(e EventClaim) (playbook.RiskLevel, error) {
			if e.String("reason") == "hijacking" {
				return playbook.RiskHigh, nil
			}
			return playbook.RiskMedium, nil
		},
		attrs: map[string]string{"reason": AttrReason}},
	RISCAccountEnabled:       {typ: playbook.EventAccountSignal, risk: fixed(playbook.RiskLow)},
	RISCAccountPurged:        {typ: playbook.EventAccountSignal, risk: fixed(playbook.RiskMedium)},
	RISCCredentialCompromise: {typ: playbook.EventCredentialCompromise, risk: fixed(playbook.RiskHigh), attrs: map[string]string{"credential_type": AttrCredKind}},
	RISCIdentifierChanged:    {typ: playbook.EventAccountSignal, risk: fixed(playbook.RiskLow), attrs: map[string]string{"new-value": AttrNewValue}},
	RISCIdentifierRecycled:   {typ: playbook.EventAccountSignal, risk: fixed(playbook.RiskMedium)},
	RISCSessionsRevoked:      {typ: playbook.EventSessionSignal, risk: fixed(playbook.RiskLow)},
}

// Supported reports whether the event type URI is one this package turns
// into a playbook event. The SSF verification and stream-updated events are
// not: they are answered, never run.
func Supported(eventType string) bool {
	_, ok := mappings[eventType]
	return ok
}

// EventID returns the playbook event id of a SET: a digest of its issuer
// and jti, so that the runner's de-duplication recognises a redelivered
// SET across restarts. eventType is appended to the digest only for SETs
// that carry several events (pass "" otherwise).
func EventID(issuer, jti, eventType string) string {
	h := sha256.New()
	h.Write([]byte(issuer))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	if eventType != "" {
		h.Write([]byte{0})
		h.Write([]byte(eventType))
	}
	return "ssf-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// ErrNoPrincipal is returned by ToEvent for an event whose subject names
// no account (a device-only subject, an unknown format).
var ErrNoPrincipal = fmt.Errorf("%w: the event's subject names no account", ErrMalformed)

// ToEvent turns one supported event of a verified SET into a playbook
// event, without resolving the subject: Subject.Provider is provider and
// Subject.ID the principal's value (the sub of iss_sub, the e-mail
// address, the opaque id, ...), with Subject.Login set for an e-mail
// principal. The risk level and event type follow the table in the
// package documentation; Raw is the SET's claims.
//
// It returns an error wrapping ErrMalformed when a required claim of the
// event is invalid (risk-level-change without a valid current_level), and
// ErrNoPrincipal when the subject names no account. e must be one of
// set.Events and Supported(e.Type) must hold.
func ToEvent(set *SET, e EventClaim, provider string) (playbook.Event, error) {
	m, ok := mappings[e.Type]
	if !ok {
		return playbook.Event{}, fmt.Errorf("%w: event type %.80q is not supported", ErrMalformed, e.Type)
	}
	risk, err := m.risk(e)
	if err != nil {
		return playbook.Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	sub, ok := set.SubjectOf(e)
	if !ok {
		return playbook.Event{}, fmt.Errorf("%w: the SET has neither sub_id nor a subject inside the event", ErrMalformed)
	}
	p, ok := sub.Principal()
	if !ok {
		return playbook.Event{}, fmt.Errorf("%w (format %q)", ErrNoPrincipal, sub.Format)
	}
	id, _ := p.Value()
	subject := playbook.Subject{Provider: provider, ID: id}
	if p.Format == FormatEmail {
		subject.Login = p.Email
	}
	typeID := ""
	if len(set.Events) > 1 {
		typeID = e.Type
	}
	attrs := map[string]string{
		AttrIssuer:    set.Issuer,
		AttrJTI:       set.ID,
		AttrEventType: e.Type,
		AttrSubject:   p.String(),
	}
	if set.Transaction != "" {
		attrs[AttrTransaction] = set.Transaction
	}
	if sub.Format == FormatComplex {
		for attr, member := range map[string]*SubjectID{AttrDevice: sub.Device, AttrSession: sub.Session, AttrTenant: sub.Tenant} {
			if member != nil {
				attrs[attr] = member.String()
			}
		}
	}
	if e.InitiatingEntity != "" {
		attrs[AttrInitiator] = e.InitiatingEntity
	}
	if r := pickReason(e.ReasonAdmin); r != "" {
		attrs[AttrReasonAdmin] = r
	}
	if r := pickReason(e.ReasonUser); r != "" {
		attrs[AttrReasonUser] = r
	}
	for claim, attr := range m.attrs {
		if v := e.String(claim); v != "" {
			attrs[attr] = v
		}
	}
	for k, v := range attrs {
		if len(v) > 1024 {
			attrs[k] = v[:1024]
		}
	}
	occurred := e.Timestamp
	if occurred.IsZero() {
		occurred = set.TimeOfEvent
	}
	if occurred.IsZero() {
		occurred = set.IssuedAt
	}
	short := e.Type[strings.LastIndex(e.Type, "/")+1:]
	reason := short
	for _, k := range []string{AttrLevel, AttrCredKind, AttrReason, AttrRiskReason} {
		if v := attrs[k]; v != "" {
			reason += " " + v
		}
	}
	raw := set.Raw
	if !json.Valid(raw) {
		raw = nil
	}
	return playbook.Event{
		ID:         EventID(set.Issuer, set.ID, typeID),
		Type:       m.typ,
		Source:     EventSource,
		Subject:    subject,
		Risk:       risk,
		Reason:     reason,
		OccurredAt: occurred,
		Attributes: attrs,
		Raw:        raw,
	}, nil
}

// pickReason returns the English reason, else any (in a stable order).
func pickReason(r map[string]string) string {
	if len(r) == 0 {
		return ""
	}
	for _, k := range []string{"en", "en-US", ""} {
		if v, ok := r[k]; ok {
			return v
		}
	}
	best := ""
	for k := range r {
		if best == "" || k < best {
			best = k
		}
	}
	return r[best]
}

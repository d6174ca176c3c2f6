package ssf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Subject identifier formats (RFC 9493 and the additions of the Shared
// Signals Framework).
const (
	FormatAccount         = "account"
	FormatEmail           = "email"
	FormatIssSub          = "iss_sub"
	FormatOpaque          = "opaque"
	FormatPhoneNumber     = "phone_number"
	FormatDID             = "did"
	FormatURI             = "uri"
	FormatAliases         = "aliases"
	FormatJWTID           = "jwt_id"
	FormatSAMLAssertionID = "saml_assertion_id"
	FormatIPAddresses     = "ip-addresses"
	FormatComplex         = "complex"
)

// MaxSubjectBytes bounds the JSON of one subject identifier.
const MaxSubjectBytes = 16 << 10

const maxSubjectValue = 512 // bytes in one identifier value
const maxAliases = 16

// SubjectID is a subject identifier: the account, device, session or
// tenant an event is about. Format says which fields are set:
//
//	account            URI ("acct:" URI)
//	email              Email
//	iss_sub            Issuer, Subject
//	opaque             ID
//	phone_number       PhoneNumber (also accepted: the format name "phone")
//	did                URL
//	uri                URI
//	jwt_id             Issuer, JTI
//	saml_assertion_id  Issuer, AssertionID
//	ip-addresses       IPAddresses
//	aliases            Identifiers (simple identifiers, no nesting)
//	complex            User, Device, Session, Application, Tenant, OrgUnit, Group
//
// A format this package does not know is kept with Format set and no
// other field; it names no principal. A SubjectID is a plain value.
type SubjectID struct {
	Format      string      `json:"format"`
	Email       string      `json:"email,omitempty"`
	Issuer      string      `json:"iss,omitempty"`
	Subject     string      `json:"sub,omitempty"`
	ID          string      `json:"id,omitempty"`
	PhoneNumber string      `json:"phone_number,omitempty"`
	URI         string      `json:"uri,omitempty"`
	URL         string      `json:"url,omitempty"`
	JTI         string      `json:"jti,omitempty"`
	AssertionID string      `json:"assertion_id,omitempty"`
	IPAddresses []string    `json:"ip-addresses,omitempty"`
	Identifiers []SubjectID `json:"identifiers,omitempty"`

	// Unknown lists, for a complex subject, the members this package does
	// not understand (beside the seven below), sorted. A receiver must
	// discard the event when one of them is among the transmitter's
	// critical_subject_members (see Config.CriticalSubjectMembers).
	Unknown []string `json:"-"`

	User        *SubjectID `json:"user,omitempty"`
	Device      *SubjectID `json:"device,omitempty"`
	Session     *SubjectID `json:"session,omitempty"`
	Application *SubjectID `json:"application,omitempty"`
	Tenant      *SubjectID `json:"tenant,omitempty"`
	OrgUnit     *SubjectID `json:"org_unit,omitempty"`
	Group       *SubjectID `json:"group,omitempty"`
}

var complexMembers = []string{"user", "device", "session", "application", "tenant", "org_unit", "group"}

// ParseSubjectID decodes a subject identifier. It accepts the RFC 9493 and
// SSF formats, the legacy RISC member "subject_type" in place of "format",
// "phone" as a synonym of "phone_number", and a member object without a
// format ({"user": {...}}, as Okta writes the subject inside an event),
// which it reads as a complex subject. Unknown members are ignored.
//
// Errors name what is wrong: a missing format, a missing or non-string
// required field, nested aliases or complex members, oversized input.
func ParseSubjectID(data []byte) (SubjectID, error) {
	if len(data) > MaxSubjectBytes {
		return SubjectID{}, fmt.Errorf("subject identifier is %d bytes, at most %d allowed", len(data), MaxSubjectBytes)
	}
	return parseSubject(data, 0)
}

func parseSubject(data []byte, depth int) (SubjectID, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return SubjectID{}, fmt.Errorf("subject identifier is not a JSON object")
	}
	str := func(name string) (string, error) {
		raw, ok := m[name]
		if !ok {
			return "", fmt.Errorf("subject identifier of format %q lacks %q", formatOf(m), name)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("subject identifier member %q is not a string", name)
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return "", fmt.Errorf("subject identifier member %q is empty", name)
		}
		if len(s) > maxSubjectValue {
			return "", fmt.Errorf("subject identifier member %q is longer than %d bytes", name, maxSubjectValue)
		}
		return s, nil
	}
	format := formatOf(m)
	if format == "" {
		if _, ok := m["format"]; ok {
			return SubjectID{}, fmt.Errorf("subject identifier format is not a non-empty string")
		}
		if _, ok := m["subject_type"]; ok {
			return SubjectID{}, fmt.Errorf("subject identifier subject_type is not a non-empty string")
		}
		for _, k := range complexMembers {
			if _, ok := m[k]; ok {
				format = FormatComplex
				break
			}
		}
		if format == "" {
			return SubjectID{}, fmt.Errorf("subject identifier has no format")
		}
	}
	s := SubjectID{Format: format}
	var err error
	switch format {
	case FormatAccount, FormatURI:
		s.URI, err = str("uri")
	case FormatEmail:
		s.Email, err = str("email")
	case FormatIssSub:
		if s.Issuer, err = str("iss"); err == nil {
			s.Subject, err = str("sub")
		}
	case FormatOpaque:
		s.ID, err = str("id")
	case FormatPhoneNumber, "phone":
		s.Format = FormatPhoneNumber
		s.PhoneNumber, err = str("phone_number")
	case FormatDID:
		s.URL, err = str("url")
	case FormatJWTID:
		if s.Issuer, err = str("iss"); err == nil {
			s.JTI, err = str("jti")
		}
	case FormatSAMLAssertionID:
		if s.Issuer, err = str("issuer"); err == nil {
			s.AssertionID, err = str("assertion_id")
		}
	case FormatIPAddresses:
		if err = json.Unmarshal(m["ip-addresses"], &s.IPAddresses); err != nil || len(s.IPAddresses) == 0 {
			err = fmt.Errorf("subject identifier of format %q needs a non-empty string array \"ip-addresses\"", format)
		} else if len(s.IPAddresses) > maxAliases {
			err = fmt.Errorf("subject identifier lists %d ip-addresses, at most %d allowed", len(s.IPAddresses), maxAliases)
		} else if slices.ContainsFunc(s.IPAddresses, func(a string) bool { return a == "" || len(a) > 64 }) {
			err = fmt.Errorf("subject identifier ip-addresses holds an empty or over-long address")
		}
	case FormatAliases:
		if depth > 0 {
			return SubjectID{}, fmt.Errorf("aliases subject identifiers must not be nested")
		}
		var items []json.RawMessage
		if json.Unmarshal(m["identifiers"], &items) != nil || len(items) == 0 {
			return SubjectID{}, fmt.Errorf("aliases subject identifier needs a non-empty array \"identifiers\"")
		}
		if len(items) > maxAliases {
			return SubjectID{}, fmt.Errorf("aliases subject identifier has %d identifiers, at most %d allowed", len(items), maxAliases)
		}
		for i, raw := range items {
			id, err := parseSubject(raw, depth+1)
			if err != nil {
				return SubjectID{}, fmt.Errorf("identifiers[%d]: %w", i, err)
			}
			if id.Format == FormatAliases || id.Format == FormatComplex {
				return SubjectID{}, fmt.Errorf("identifiers[%d]: format %q may not appear inside aliases", i, id.Format)
			}
			s.Identifiers = append(s.Identifiers, id)
		}
	case FormatComplex:
		if depth > 0 {
			return SubjectID{}, fmt.Errorf("complex subject identifiers must not be nested")
		}
		n := 0
		for _, k := range complexMembers {
			raw, ok := m[k]
			if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				continue
			}
			id, err := parseSubject(raw, depth+1)
			if err != nil {
				return SubjectID{}, fmt.Errorf("complex member %q: %w", k, err)
			}
			if id.Format == FormatComplex {
				return SubjectID{}, fmt.Errorf("complex member %q may not itself be complex", k)
			}
			*s.member(k) = &id
			n++
		}
		for k := range m {
			if k != "format" && k != "subject_type" && !slices.Contains(complexMembers, k) && len(s.Unknown) < maxAliases {
				s.Unknown = append(s.Unknown, k)
			}
		}
		slices.Sort(s.Unknown)
		if n == 0 {
			return SubjectID{}, fmt.Errorf("complex subject identifier has no member (%s)", strings.Join(complexMembers, ", "))
		}
	default:
		// An unknown format: kept, names no principal.
	}
	if err != nil {
		return SubjectID{}, err
	}
	return s, nil
}

func formatOf(m map[string]json.RawMessage) string {
	for _, k := range []string{"format", "subject_type"} {
		if raw, ok := m[k]; ok {
			var f string
			if json.Unmarshal(raw, &f) == nil && len(f) <= 64 {
				return strings.TrimSpace(f)
			}
			return ""
		}
	}
	return ""
}

func (s *SubjectID) member(name string) **SubjectID {
	switch name {
	case "user":
		return &s.User
	case "device":
		return &s.Device
	case "session":
		return &s.Session
	case "application":
		return &s.Application
	case "tenant":
		return &s.Tenant
	case "org_unit":
		return &s.OrgUnit
	}
	return &s.Group
}

// UnmarshalJSON decodes with ParseSubjectID.
func (s *SubjectID) UnmarshalJSON(b []byte) error {
	v, err := ParseSubjectID(b)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Value returns the identifier's principal value and whether it has one:
// the e-mail address, the sub of iss_sub, the opaque id, the phone number,
// the URI or URL. Complex and aliases identifiers have none of their own
// (see Principal).
func (s SubjectID) Value() (string, bool) {
	for _, v := range []string{s.Email, s.Subject, s.ID, s.PhoneNumber, s.URI, s.URL} {
		if v != "" {
			return v, true
		}
	}
	return "", false
}

// String returns "format:value" ("email:jane@example.com",
// "iss_sub:https://idp.example.com/|jane"), or the format alone.
func (s SubjectID) String() string {
	switch {
	case s.Format == FormatIssSub || s.Format == FormatJWTID:
		return s.Format + ":" + s.Issuer + "|" + s.Subject + s.JTI
	case s.Format == FormatSAMLAssertionID:
		return s.Format + ":" + s.Issuer + "|" + s.AssertionID
	case s.Format == FormatIPAddresses:
		return s.Format + ":" + strings.Join(s.IPAddresses, ",")
	}
	if v, ok := s.Value(); ok {
		return s.Format + ":" + v
	}
	return s.Format
}

// Principal returns the identifier of the account the subject is about:
// the subject itself for a simple format that names an account (email,
// iss_sub, opaque, phone_number, account, uri, did); the user member of a
// complex subject; the first account-naming identifier of aliases
// (preferring iss_sub, then email). It returns false when the subject
// names no account (a complex subject with only a device or tenant, an
// unknown format, an ip-addresses subject).
func (s SubjectID) Principal() (SubjectID, bool) {
	switch s.Format {
	case FormatEmail, FormatIssSub, FormatOpaque, FormatPhoneNumber, FormatAccount, FormatURI, FormatDID:
		return s, true
	case FormatComplex:
		if s.User != nil {
			return s.User.Principal()
		}
	case FormatAliases:
		ids := slices.Clone(s.Identifiers)
		rank := map[string]int{FormatIssSub: 0, FormatEmail: 1}
		slices.SortStableFunc(ids, func(a, b SubjectID) int {
			ra, ok := rank[a.Format]
			if !ok {
				ra = 2
			}
			rb, ok := rank[b.Format]
			if !ok {
				rb = 2
			}
			return ra - rb
		})
		for _, id := range ids {
			if p, ok := id.Principal(); ok {
				return p, true
			}
		}
	}
	return SubjectID{}, false
}

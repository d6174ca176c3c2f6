package entra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// maxRecord bounds one raw Graph record a decoder accepts.
const maxRecord = 1 << 20

// ErrBadRecord is wrapped by every decoder error: the record is not a
// Graph record of the expected type.
var ErrBadRecord = errors.New("entra: bad Graph record")

func badRecord(kind, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadRecord, kind, fmt.Sprintf(format, args...))
}

// Time is a Graph DateTimeOffset. It accepts RFC 3339 with any number of
// fractional digits (Graph sends seven) and, as some Graph fields do,
// timestamps without a zone, read as UTC.
type Time struct{ time.Time }

// UnmarshalJSON decodes a JSON string or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp is not a string: %s", truncate(string(b), 40))
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// ParseTime parses a Graph timestamp (see Time). The empty string is the
// zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", truncate(s, 40))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Location is a Graph signIn/riskDetection location. Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type Location struct {
	City            string `json:"city"`
	State           string `json:"state"`
	CountryOrRegion string `json:"countryOrRegion"`
}

// String joins the non-empty parts: "Seattle, Washington, US".
func (l *Location) String() string {
	if l == nil {
		return ""
	}
	var parts []string
	for _, p := range []string{l.City, l.State, l.CountryOrRegion} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// KeyValue is one entry of riskDetection.additionalInfo. Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type KeyValue struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// AdditionalInfo is riskDetection.additionalInfo. Graph sends it as a
// JSON-encoded string holding an array of {"Key","Value"}; it is also
// accepted as the array itself. Values that are not strings are kept as
// their JSON text.
type AdditionalInfo []KeyValue

// UnmarshalJSON decodes the string or array form.
func (a *AdditionalInfo) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*a = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if strings.TrimSpace(s) == "" {
			*a = nil
			return nil
		}
		b = []byte(s)
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("additionalInfo is not an array of {Key, Value}: %v", err)
	}
	out := make(AdditionalInfo, 0, len(raw))
	for _, kv := range raw {
		var k string
		if err := json.Unmarshal(kv["Key"], &k); err != nil || k == "" {
			continue
		}
		v := kv["Value"]
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		out = append(out, KeyValue{Key: k, Value: s})
	}
	*a = out
	return nil
}

// RiskDetection is a Graph riskDetection record (v1.0). Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type RiskDetection struct {
	ID                  string         `json:"id"`
	RequestID           string         `json:"requestId"`
	CorrelationID       string         `json:"correlationId"`
	RiskEventType       string         `json:"riskEventType"`
	RiskState           string         `json:"riskState"`
	RiskLevel           string         `json:"riskLevel"`
	RiskDetail          string         `json:"riskDetail"`
	Source              string         `json:"source"`
	DetectionTimingType string         `json:"detectionTimingType"`
	Activity            string         `json:"activity"`
	TokenIssuerType     string         `json:"tokenIssuerType"`
	IPAddress           string         `json:"ipAddress"`
	Location            *Location      `json:"location"`
	ActivityDateTime    Time           `json:"activityDateTime"`
	DetectedDateTime    Time           `json:"detectedDateTime"`
	LastUpdatedDateTime Time           `json:"lastUpdatedDateTime"`
	UserID              string         `json:"userId"`
	UserDisplayName     string         `json:"userDisplayName"`
	UserPrincipalName   string         `json:"userPrincipalName"`
	AdditionalInfo      AdditionalInfo `json:"additionalInfo"`
}

// RiskyUser is a Graph riskyUser record (v1.0). Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type RiskyUser struct {
	ID                      string `json:"id"`
	IsDeleted               bool   `json:"isDeleted"`
	IsProcessing            bool   `json:"isProcessing"`
	RiskLastUpdatedDateTime Time   `json:"riskLastUpdatedDateTime"`
	RiskLevel               string `json:"riskLevel"`
	RiskState               string `json:"riskState"`
	RiskDetail              string `json:"riskDetail"`
	UserDisplayName         string `json:"userDisplayName"`
	UserPrincipalName       string `json:"userPrincipalName"`
}

// SignIn is a Graph signIn record (v1.0), the fields enrichment uses. Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type SignIn struct {
	ID                string    `json:"id"`
	CreatedDateTime   Time      `json:"createdDateTime"`
	UserID            string    `json:"userId"`
	UserPrincipalName string    `json:"userPrincipalName"`
	UserDisplayName   string    `json:"userDisplayName"`
	AppDisplayName    string    `json:"appDisplayName"`
	IPAddress         string    `json:"ipAddress"`
	ClientAppUsed     string    `json:"clientAppUsed"`
	Location          *Location `json:"location"`
	Status            *struct {
		ErrorCode     int    `json:"errorCode"`
		FailureReason string `json:"failureReason"`
	} `json:"status"`
	RiskLevelAggregated   string   `json:"riskLevelAggregated"`
	RiskLevelDuringSignIn string   `json:"riskLevelDuringSignIn"`
	RiskState             string   `json:"riskState"`
	RiskEventTypesV2      []string `json:"riskEventTypes_v2"`
}

// ModifiedProperty is one change inside a directory audit target. Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type ModifiedProperty struct {
	DisplayName string `json:"displayName"`
	OldValue    string `json:"oldValue"`
	NewValue    string `json:"newValue"`
}

// Unquoted returns NewValue with the JSON string quoting Graph puts around
// it removed ("\"Global Administrator\"" → "Global Administrator").
func (m ModifiedProperty) Unquoted() string { return unquote(m.NewValue) }

// TargetResource is a directoryAudit target. Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type TargetResource struct {
	ID                 string             `json:"id"`
	DisplayName        string             `json:"displayName"`
	Type               string             `json:"type"`
	UserPrincipalName  string             `json:"userPrincipalName"`
	GroupType          string             `json:"groupType"`
	ModifiedProperties []ModifiedProperty `json:"modifiedProperties"`
}

// Property returns the unquoted new value of the named modified property.
func (t TargetResource) Property(name string) string {
	for _, p := range t.ModifiedProperties {
		if strings.EqualFold(p.DisplayName, name) {
			return p.Unquoted()
		}
	}
	return ""
}

// Identity is a directoryAudit initiator (a user or an app). Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type Identity struct {
	User *struct {
		ID                string `json:"id"`
		DisplayName       string `json:"displayName"`
		UserPrincipalName string `json:"userPrincipalName"`
		IPAddress         string `json:"ipAddress"`
	} `json:"user"`
	App *struct {
		AppID                string `json:"appId"`
		DisplayName          string `json:"displayName"`
		ServicePrincipalID   string `json:"servicePrincipalId"`
		ServicePrincipalName string `json:"servicePrincipalName"`
	} `json:"app"`
}

// Name returns who acted: the user's UPN or id, or the app's service
// principal id (live records carry appId null), or "".
func (i Identity) Name() string {
	if i.User != nil && (i.User.UserPrincipalName != "" || i.User.ID != "") {
		return cmpOr(i.User.UserPrincipalName, i.User.ID)
	}
	if i.App != nil {
		return cmpOr(cmpOr(i.App.ServicePrincipalID, i.App.AppID), i.App.DisplayName)
	}
	return ""
}

// DirectoryAudit is a Graph directoryAudit record (v1.0). Each field holds the Graph property named by its JSON tag, as
// Microsoft's v1.0 resource reference describes it.
type DirectoryAudit struct {
	ID                  string           `json:"id"`
	Category            string           `json:"category"`
	CorrelationID       string           `json:"correlationId"`
	Result              string           `json:"result"`
	ResultReason        string           `json:"resultReason"`
	ActivityDisplayName string           `json:"activityDisplayName"`
	ActivityDateTime    Time             `json:"activityDateTime"`
	LoggedByService     string           `json:"loggedByService"`
	OperationType       string           `json:"operationType"`
	InitiatedBy         Identity         `json:"initiatedBy"`
	TargetResources     []TargetResource `json:"targetResources"`
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		var u string
		if json.Unmarshal([]byte(s), &u) == nil {
			return u
		}
	}
	return s
}

// decode parses raw into v, refusing anything but one JSON object.
func decode(kind string, raw []byte, v any) error {
	if len(raw) > maxRecord {
		return badRecord(kind, "%d bytes, at most %d allowed", len(raw), maxRecord)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return badRecord(kind, "not a JSON object")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return badRecord(kind, "%v", err)
	}
	return nil
}

// ParseRiskDetection decodes a riskDetection record.
func ParseRiskDetection(raw []byte) (RiskDetection, error) {
	var d RiskDetection
	if err := decode("riskDetection", raw, &d); err != nil {
		return RiskDetection{}, err
	}
	if d.ID == "" {
		return RiskDetection{}, badRecord("riskDetection", "no id")
	}
	if d.UserID == "" {
		return RiskDetection{}, badRecord("riskDetection", "%s names no userId", d.ID)
	}
	return d, nil
}

// ParseRiskyUser decodes a riskyUser record.
func ParseRiskyUser(raw []byte) (RiskyUser, error) {
	var u RiskyUser
	if err := decode("riskyUser", raw, &u); err != nil {
		return RiskyUser{}, err
	}
	if u.ID == "" {
		return RiskyUser{}, badRecord("riskyUser", "no id")
	}
	return u, nil
}

// ParseSignIn decodes a signIn record.
func ParseSignIn(raw []byte) (SignIn, error) {
	var s SignIn
	if err := decode("signIn", raw, &s); err != nil {
		return SignIn{}, err
	}
	if s.ID == "" {
		return SignIn{}, badRecord("signIn", "no id")
	}
	return s, nil
}

// ParseDirectoryAudit decodes a directoryAudit record.
func ParseDirectoryAudit(raw []byte) (DirectoryAudit, error) {
	var a DirectoryAudit
	if err := decode("directoryAudit", raw, &a); err != nil {
		return DirectoryAudit{}, err
	}
	if a.ID == "" {
		return DirectoryAudit{}, badRecord("directoryAudit", "no id")
	}
	if a.ActivityDisplayName == "" {
		return DirectoryAudit{}, badRecord("directoryAudit", "%s has no activityDisplayName", a.ID)
	}
	return a, nil
}

// RiskLevel maps a Graph riskLevel to the core's scale. "hidden" (the
// tenant's license hides the level) and values Graph may add later map to
// RiskMedium: a signal to watch, never silently dropped nor contained on
// a level nobody saw. "none" and "" are RiskNone.
func RiskLevel(s string) playbook.RiskLevel {
	switch strings.ToLower(s) {
	case "high":
		return playbook.RiskHigh
	case "medium":
		return playbook.RiskMedium
	case "low":
		return playbook.RiskLow
	case "none", "":
		return playbook.RiskNone
	}
	return playbook.RiskMedium
}

// closedRiskState reports whether a riskState means the risk was handled
// (remediated, dismissed, confirmed safe): it no longer calls for
// containment.
func closedRiskState(s string) bool {
	switch strings.ToLower(s) {
	case "remediated", "dismissed", "confirmedsafe", "none":
		return true
	}
	return false
}

// riskOf returns the event risk of a level and state: confirmed
// compromised is high whatever the level; a closed state is none (the
// level stays in the attributes).
func riskOf(level, state string) playbook.RiskLevel {
	switch {
	case strings.EqualFold(state, "confirmedCompromised"):
		return playbook.RiskHigh
	case closedRiskState(state):
		return playbook.RiskNone
	}
	return RiskLevel(level)
}

func subject(id, upn, name string) playbook.Subject {
	return playbook.Subject{Provider: ProviderName, ID: id, Login: upn, DisplayName: name}
}

func setAttr(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// Event returns the playbook event of the detection: type
// EventCredentialCompromise for leakedCredentials, EventRiskyUser for
// user-level activity, EventRiskySignIn otherwise; ID the detection id;
// Risk per riskLevel and riskState (a remediated, dismissed or confirmed
// safe detection has RiskNone); the details as attributes (ip, location,
// risk_level, risk_state, risk_detail, detection_timing, source,
// token_issuer, activity, request_id, correlation_id, and additionalInfo
// entries as info.KEY).
func (d RiskDetection) Event(raw []byte) playbook.Event {
	typ := playbook.EventRiskySignIn
	switch {
	case strings.EqualFold(d.RiskEventType, "leakedCredentials"):
		typ = playbook.EventCredentialCompromise
	case strings.EqualFold(d.Activity, "user"):
		typ = playbook.EventRiskyUser
	}
	attrs := map[string]string{}
	setAttr(attrs, "ip", d.IPAddress)
	setAttr(attrs, "location", d.Location.String())
	setAttr(attrs, "risk_level", d.RiskLevel)
	setAttr(attrs, "risk_state", d.RiskState)
	setAttr(attrs, "risk_detail", d.RiskDetail)
	setAttr(attrs, "detection_timing", d.DetectionTimingType)
	setAttr(attrs, "source", d.Source)
	setAttr(attrs, "token_issuer", d.TokenIssuerType)
	setAttr(attrs, "activity", d.Activity)
	setAttr(attrs, "request_id", d.RequestID)
	setAttr(attrs, "correlation_id", d.CorrelationID)
	for _, kv := range d.AdditionalInfo {
		if len(attrs) >= 64 {
			break
		}
		setAttr(attrs, "info."+truncate(kv.Key, 100), truncate(kv.Value, 4000))
	}
	at := d.ActivityDateTime.Time
	if at.IsZero() {
		at = d.DetectedDateTime.Time
	}
	return playbook.Event{
		ID: d.ID, Type: typ, Source: "entra/riskDetections",
		Subject: subject(d.UserID, d.UserPrincipalName, d.UserDisplayName),
		Risk:    riskOf(d.RiskLevel, d.RiskState), Reason: d.RiskEventType, OccurredAt: at,
		Attributes: attrs, Raw: compact(raw),
	}
}

// Event returns the playbook event of the risky user: type EventRiskyUser,
// ID "riskyUser/{id}/{riskLastUpdatedDateTime}" (each change of the user's
// risk is a new signal), Risk per riskLevel and riskState.
func (u RiskyUser) Event(raw []byte) playbook.Event {
	attrs := map[string]string{}
	setAttr(attrs, "risk_level", u.RiskLevel)
	setAttr(attrs, "risk_state", u.RiskState)
	setAttr(attrs, "risk_detail", u.RiskDetail)
	if u.IsDeleted {
		attrs["deleted"] = "true"
	}
	return playbook.Event{
		ID: "riskyUser/" + u.ID + "/" + u.RiskLastUpdatedDateTime.UTC().Format(time.RFC3339Nano), Type: playbook.EventRiskyUser,
		Source: "entra/riskyUsers", Subject: subject(u.ID, u.UserPrincipalName, u.UserDisplayName),
		Risk: riskOf(u.RiskLevel, u.RiskState), Reason: cmpOr(u.RiskDetail, "risk "+u.RiskState),
		OccurredAt: u.RiskLastUpdatedDateTime.Time, Attributes: attrs, Raw: compact(raw),
	}
}

// SignIn returns the core form of the sign-in.
func (s SignIn) SignIn() playbook.SignIn {
	risk := RiskLevel(s.RiskLevelDuringSignIn)
	if r := RiskLevel(s.RiskLevelAggregated); r > risk {
		risk = r
	}
	return playbook.SignIn{
		ID: s.ID, Time: s.CreatedDateTime.Time, IP: s.IPAddress, Location: s.Location.String(),
		App: s.AppDisplayName, Success: s.Status == nil || s.Status.ErrorCode == 0, Risk: risk,
	}
}

func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil || b.Len() > maxRecord {
		return nil
	}
	return b.Bytes()
}

// DecodeRiskDetection turns a raw riskDetection record into an event (see
// RiskDetection.Event). Errors wrap ErrBadRecord and say what is wrong.
func DecodeRiskDetection(raw []byte) (playbook.Event, error) {
	d, err := ParseRiskDetection(raw)
	if err != nil {
		return playbook.Event{}, err
	}
	return validated(d.Event(raw))
}

// DecodeRiskyUser turns a raw riskyUser record into an event (see
// RiskyUser.Event). Errors wrap ErrBadRecord.
func DecodeRiskyUser(raw []byte) (playbook.Event, error) {
	u, err := ParseRiskyUser(raw)
	if err != nil {
		return playbook.Event{}, err
	}
	return validated(u.Event(raw))
}

// DecodeSignIn turns a raw signIn record into enrichment data. Errors wrap
// ErrBadRecord.
func DecodeSignIn(raw []byte) (playbook.SignIn, error) {
	s, err := ParseSignIn(raw)
	if err != nil {
		return playbook.SignIn{}, err
	}
	return s.SignIn(), nil
}

func validated(ev playbook.Event) (playbook.Event, error) {
	if err := ev.Validate(); err != nil {
		return playbook.Event{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	return ev, nil
}

// AuditOptions say which directory audit records are privilege changes.
type AuditOptions struct {
	// PrivilegedRoles lists role template ids, role definition ids or
	// display names (case-insensitive) whose assignment is privileged.
	// Role assignments of other roles are reported with attribute
	// privileged=false and RiskLow.
	PrivilegedRoles []string
	// PrivilegedGroups lists group ids (case-insensitive) whose new
	// members are reported; additions to other groups are not privilege
	// changes.
	PrivilegedGroups []string
}

// Categories and activities of directory audits that change privilege.
var configCategories = []string{"DirectoryManagement", "Policy", "RoleManagement"}

// DecodeDirectoryAudit turns a raw directoryAudit record into a privilege
// event and reports whether the record is one:
//
//   - a successful role assignment ("Add member to role", "Add eligible
//     member to role", "Add scoped member to role" and their PIM
//     variants) is EventRoleAssigned about the target user or service
//     principal, with attributes role (the role template id, else the
//     role object id, else its name), role_name, role_template and
//     privileged; RiskMedium for a privileged role, RiskLow otherwise;
//   - a successful "Add member to group" or "Add owner to group" of one
//     of opts.PrivilegedGroups is EventPrivilegedGroupAdded about the
//     member, with attributes group and group_name, RiskMedium;
//   - another successful Add/Update/Delete activity of the RoleManagement,
//     DirectoryManagement or Policy categories (role definitions,
//     directory settings, conditional access) is EventConfigChanged about
//     the initiating user or service principal, RiskLow;
//   - anything else (removals, failures, other categories) is not a
//     privilege change: false, no error.
//
// Role names are read from the target's modifiedProperties (Role.DisplayName,
// Role.TemplateId, Role.ObjectID), whose values Graph sends as JSON-encoded
// strings. Errors wrap ErrBadRecord.
func DecodeDirectoryAudit(raw []byte, opts AuditOptions) (playbook.Event, bool, error) {
	a, err := ParseDirectoryAudit(raw)
	if err != nil {
		return playbook.Event{}, false, err
	}
	if !strings.EqualFold(a.Result, "success") {
		return playbook.Event{}, false, nil
	}
	act := strings.ToLower(a.ActivityDisplayName)
	ev := playbook.Event{ID: a.ID, Source: "entra/directoryAudits", Actor: a.InitiatedBy.Name(), Reason: a.ActivityDisplayName,
		OccurredAt: a.ActivityDateTime.Time, Attributes: map[string]string{}, Raw: compact(raw)}
	setAttr(ev.Attributes, "category", a.Category)
	setAttr(ev.Attributes, "operation", a.OperationType)
	setAttr(ev.Attributes, "correlation_id", a.CorrelationID)
	switch {
	case strings.EqualFold(a.Category, "RoleManagement") && strings.HasPrefix(act, "add ") && strings.Contains(act, "member to role"):
		target, ok := principalTarget(a.TargetResources)
		if !ok {
			return playbook.Event{}, false, badRecord("directoryAudit", "%s: role assignment names no user or service principal target", a.ID)
		}
		var name, tmpl, obj string
		for _, t := range a.TargetResources {
			name = cmpOr(name, t.Property("Role.DisplayName"))
			tmpl = cmpOr(tmpl, t.Property("Role.TemplateId"))
			obj = cmpOr(obj, t.Property("Role.ObjectID"))
			if strings.EqualFold(t.Type, "Role") {
				name, obj = cmpOr(name, t.DisplayName), cmpOr(obj, t.ID)
			}
		}
		role := cmpOr(cmpOr(tmpl, obj), name)
		if role == "" {
			return playbook.Event{}, false, badRecord("directoryAudit", "%s: role assignment names no role", a.ID)
		}
		priv := matchesAny(opts.PrivilegedRoles, tmpl, obj, name)
		ev.Type, ev.Subject = playbook.EventRoleAssigned, subject(target.ID, target.UserPrincipalName, target.DisplayName)
		ev.Risk = playbook.RiskLow
		if priv {
			ev.Risk = playbook.RiskMedium
		}
		ev.Attributes["role"] = role
		setAttr(ev.Attributes, "role_name", name)
		setAttr(ev.Attributes, "role_template", tmpl)
		ev.Attributes["privileged"] = strconv.FormatBool(priv)
	case strings.EqualFold(a.Category, "GroupManagement") && (act == "add member to group" || act == "add owner to group"):
		target, ok := principalTarget(a.TargetResources)
		if !ok {
			return playbook.Event{}, false, badRecord("directoryAudit", "%s: group change names no member", a.ID)
		}
		var gid, gname string
		for _, t := range a.TargetResources {
			gid = cmpOr(gid, t.Property("Group.ObjectID"))
			gname = cmpOr(gname, t.Property("Group.DisplayName"))
			if strings.EqualFold(t.Type, "Group") {
				gid, gname = cmpOr(gid, t.ID), cmpOr(gname, t.DisplayName)
			}
		}
		if gid == "" {
			return playbook.Event{}, false, badRecord("directoryAudit", "%s: group change names no group", a.ID)
		}
		if !matchesAny(opts.PrivilegedGroups, gid) {
			return playbook.Event{}, false, nil
		}
		ev.Type, ev.Subject, ev.Risk = playbook.EventPrivilegedGroupAdded, subject(target.ID, target.UserPrincipalName, target.DisplayName), playbook.RiskMedium
		ev.Attributes["group"] = gid
		setAttr(ev.Attributes, "group_name", gname)
	case slices.ContainsFunc(configCategories, func(c string) bool { return strings.EqualFold(c, a.Category) }) &&
		!strings.Contains(act, "member") && isChange(a.OperationType, act):
		actor := actorSubject(a.InitiatedBy)
		if actor.ID == "" {
			return playbook.Event{}, false, badRecord("directoryAudit", "%s: configuration change names no initiator", a.ID)
		}
		ev.Type, ev.Subject, ev.Risk = playbook.EventConfigChanged, actor, playbook.RiskLow
		if len(a.TargetResources) > 0 {
			setAttr(ev.Attributes, "target", cmpOr(a.TargetResources[0].DisplayName, a.TargetResources[0].ID))
			setAttr(ev.Attributes, "target_type", a.TargetResources[0].Type)
		}
	default:
		return playbook.Event{}, false, nil
	}
	out, err := validated(ev)
	return out, err == nil, err
}

func isChange(op, act string) bool {
	switch strings.ToLower(op) {
	case "add", "update", "delete", "assign", "unassign":
		return true
	}
	return strings.HasPrefix(act, "add ") || strings.HasPrefix(act, "update ") || strings.HasPrefix(act, "delete ") ||
		strings.HasPrefix(act, "set ") || strings.HasPrefix(act, "remove ")
}

func principalTarget(ts []TargetResource) (TargetResource, bool) {
	for _, t := range ts {
		switch strings.ToLower(t.Type) {
		case "user", "serviceprincipal":
			if t.ID != "" {
				return t, true
			}
		}
	}
	return TargetResource{}, false
}

func actorSubject(i Identity) playbook.Subject {
	if i.User != nil && i.User.ID != "" {
		return subject(i.User.ID, i.User.UserPrincipalName, i.User.DisplayName)
	}
	if i.App != nil && i.App.ServicePrincipalID != "" {
		return subject(i.App.ServicePrincipalID, i.App.ServicePrincipalName, i.App.DisplayName)
	}
	return playbook.Subject{}
}

func matchesAny(list []string, vals ...string) bool {
	for _, l := range list {
		for _, v := range vals {
			if v != "" && strings.EqualFold(strings.TrimSpace(l), v) {
				return true
			}
		}
	}
	return false
}

package entratest

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Graph timestamps carry seven fractional digits on the wire.
const wireTime = "2006-01-02T15:04:05.0000000Z"

// WireTime formats t as Graph does ("2024-05-01T10:00:00.1234567Z").
func WireTime(t time.Time) string { return t.UTC().Format(wireTime) }

// RiskDetection describes a risk detection for AddRiskDetection, which
// renders it in the live wire format. Empty fields take defaults: a new
// GUID, unfamiliarFeatures, medium, atRisk, signin, the emulator's now.
// City and Country fill location; UserAgent fills additionalInfo.
type RiskDetection struct {
	ID            string
	UserID        string
	RiskEventType string // unfamiliarFeatures, leakedCredentials, ...
	RiskLevel     string // low, medium, high
	RiskState     string // default atRisk
	Activity      string // signin (default) or user
	IPAddress     string
	City, Country string
	DetectedAt    time.Time
	UserAgent     string
}

// AddRiskDetection records d in the live wire format (no @odata.type,
// additionalInfo as a JSON-encoded string, seven-digit fractions) and
// raises the user's risk as Identity Protection does. It returns the
// detection id.
func (e *Emulator) AddRiskDetection(d RiskDetection) (string, error) {
	e.mu.Lock()
	u := e.users[d.UserID]
	now := e.opts.Now().UTC()
	e.mu.Unlock()
	if u == nil {
		return "", fmt.Errorf("entratest: AddRiskDetection: no user %s", d.UserID)
	}
	if d.ID == "" {
		d.ID = NewID()
	}
	if d.DetectedAt.IsZero() {
		d.DetectedAt = now
	}
	d.RiskState = cmp(d.RiskState, "atRisk")
	d.Activity = cmp(d.Activity, "signin")
	d.RiskLevel = cmp(d.RiskLevel, "medium")
	info, _ := json.Marshal([]map[string]string{{"Key": "userAgent", "Value": cmp(d.UserAgent, "Mozilla/5.0 (Windows NT 10.0; Win64; x64)")}})
	rec := map[string]any{
		"id": d.ID, "requestId": NewID(), "correlationId": NewID(),
		"riskEventType": cmp(d.RiskEventType, "unfamiliarFeatures"), "riskState": d.RiskState, "riskLevel": d.RiskLevel,
		"riskDetail": "none", "source": "IdentityProtection", "detectionTimingType": "realtime", "activity": d.Activity,
		"tokenIssuerType": "AzureAD", "ipAddress": cmp(d.IPAddress, "203.0.113.9"),
		"location": map[string]any{"city": d.City, "state": "", "countryOrRegion": d.Country,
			"geoCoordinates": map[string]any{"altitude": nil, "latitude": 52.52, "longitude": 13.4}},
		"activityDateTime": WireTime(d.DetectedAt.Add(-2 * time.Minute)), "detectedDateTime": WireTime(d.DetectedAt),
		"lastUpdatedDateTime": WireTime(d.DetectedAt), "userId": u.ID, "userDisplayName": u.DisplayName,
		"userPrincipalName": u.UserPrincipalName, "additionalInfo": string(info),
	}
	raw, _ := json.Marshal(rec)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.detections = append(e.detections, record{id: d.ID, at: d.DetectedAt.UTC(), userID: u.ID, raw: raw})
	if d.RiskState == "atRisk" {
		r := e.risky[u.ID]
		if r == nil {
			r = &RiskyUser{ID: u.ID, RiskLevel: "none", RiskState: "none"}
			e.risky[u.ID] = r
		}
		if rank(d.RiskLevel) >= rank(r.RiskLevel) || r.RiskState != "atRisk" {
			r.RiskLevel = d.RiskLevel
		}
		r.RiskState, r.RiskDetail, r.LastUpdated = "atRisk", "none", d.DetectedAt.UTC()
	}
	return d.ID, nil
}

func rank(level string) int {
	switch level {
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	}
	return 0
}

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// AddRawRiskDetection stores a raw riskDetection record as it is (a
// malformed record is served as is: that is the point). id and at are what
// the emulator filters and pages by.
func (e *Emulator) AddRawRiskDetection(id string, at time.Time, raw json.RawMessage) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.detections = append(e.detections, record{id: id, at: at.UTC(), raw: raw})
}

// SignIn describes an interactive sign-in for AddSignIn: the user, when
// (default now), the application, IP address and location, the status
// code and the sign-in risk.
type SignIn struct {
	UserID    string
	At        time.Time
	App       string
	IPAddress string
	City      string
	Country   string
	// ErrorCode is status.errorCode: 0 for success, 50126 for a bad
	// password, ...
	ErrorCode int
	RiskLevel string // riskLevelDuringSignIn; default none
}

// AddSignIn records s in the live wire format and returns its id.
func (e *Emulator) AddSignIn(s SignIn) (string, error) {
	e.mu.Lock()
	u := e.users[s.UserID]
	now := e.opts.Now().UTC()
	e.mu.Unlock()
	if u == nil {
		return "", fmt.Errorf("entratest: AddSignIn: no user %s", s.UserID)
	}
	if s.At.IsZero() {
		s.At = now
	}
	id := NewID()
	reason := "Other."
	if s.ErrorCode == 50126 {
		reason = "Error validating credentials due to invalid username or password."
	}
	rec := map[string]any{
		"id": id, "createdDateTime": WireTime(s.At), "userDisplayName": u.DisplayName, "userPrincipalName": u.UserPrincipalName,
		"userId": u.ID, "appId": NewID(), "appDisplayName": cmp(s.App, "Office 365 Exchange Online"), "ipAddress": cmp(s.IPAddress, "198.51.100.4"),
		"clientAppUsed": "Browser", "correlationId": NewID(), "conditionalAccessStatus": "notApplied", "isInteractive": true,
		"riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": cmp(s.RiskLevel, "none"), "riskState": "none",
		"riskEventTypes_v2": []string{}, "resourceDisplayName": "Office 365 Exchange Online", "resourceId": NewID(),
		"status":   map[string]any{"errorCode": s.ErrorCode, "failureReason": reason, "additionalDetails": nil},
		"location": map[string]any{"city": s.City, "state": "", "countryOrRegion": s.Country},
	}
	raw, _ := json.Marshal(rec)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.signIns = append(e.signIns, record{id: id, at: s.At.UTC(), userID: u.ID, raw: raw})
	return id, nil
}

// RoleAssignmentAudit describes an "Add member to role" directory audit
// for AddRoleAssignmentAudit; At defaults to the emulator's now.
type RoleAssignmentAudit struct {
	// TargetUserID receives the role; RoleID is its definition id.
	TargetUserID string
	RoleID       string
	// InitiatorUserID is the admin who assigned it; empty means an app
	// (initiatedBy.app with appId null, as live records show).
	InitiatorUserID string
	At              time.Time
}

// AddRoleAssignmentAudit records an "Add member to role" audit in the
// live wire format (role name and ids as JSON-encoded strings inside
// modifiedProperties) and returns its id.
func (e *Emulator) AddRoleAssignmentAudit(a RoleAssignmentAudit) (string, error) {
	e.mu.Lock()
	target, role, ok := e.users[a.TargetUserID], e.roles[a.RoleID], true
	if role.ID == "" {
		ok = false
	}
	var initiator *User
	if a.InitiatorUserID != "" {
		initiator = e.users[a.InitiatorUserID]
	}
	now := e.opts.Now().UTC()
	e.mu.Unlock()
	if target == nil || !ok || (a.InitiatorUserID != "" && initiator == nil) {
		return "", errors.New("entratest: AddRoleAssignmentAudit: unknown target user, role or initiator")
	}
	if a.At.IsZero() {
		a.At = now
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	wellKnown := ""
	if role.TemplateID == GlobalAdministrator {
		wellKnown = "TenantAdmins"
	}
	by := map[string]any{"app": map[string]any{"appId": nil, "displayName": "Provisioning App", "servicePrincipalId": NewID(), "servicePrincipalName": nil}, "user": nil}
	if initiator != nil {
		by = map[string]any{"app": nil, "user": map[string]any{"id": initiator.ID, "displayName": nil, "userPrincipalName": initiator.UserPrincipalName, "ipAddress": "", "userType": nil}}
	}
	id := "Directory_" + NewID()
	rec := map[string]any{
		"id": id, "category": "RoleManagement", "correlationId": NewID(), "result": "success", "resultReason": "",
		"activityDisplayName": "Add member to role", "activityDateTime": WireTime(a.At), "loggedByService": "Core Directory",
		"operationType": "Assign", "initiatedBy": by, "userAgent": nil,
		"targetResources": []any{
			map[string]any{"id": target.ID, "displayName": nil, "type": "User", "userPrincipalName": target.UserPrincipalName, "groupType": nil,
				"modifiedProperties": []any{
					map[string]any{"displayName": "Role.ObjectID", "oldValue": nil, "newValue": q(role.ID)},
					map[string]any{"displayName": "Role.DisplayName", "oldValue": nil, "newValue": q(role.DisplayName)},
					map[string]any{"displayName": "Role.TemplateId", "oldValue": nil, "newValue": q(role.TemplateID)},
					map[string]any{"displayName": "Role.WellKnownObjectName", "oldValue": nil, "newValue": q(wellKnown)},
				}},
			map[string]any{"id": role.ID, "displayName": role.DisplayName, "type": "Role", "userPrincipalName": nil, "groupType": nil, "modifiedProperties": []any{}},
		},
		"additionalDetails": []any{},
	}
	raw, _ := json.Marshal(rec)
	e.AddRawDirectoryAudit(id, a.At, raw)
	return id, nil
}

// AddRawDirectoryAudit stores a raw directoryAudit record as it is.
func (e *Emulator) AddRawDirectoryAudit(id string, at time.Time, raw json.RawMessage) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.audits = append(e.audits, record{id: id, at: at.UTC(), raw: raw})
}

// riskyUserJSON renders a riskyUser as Graph lists it (no @odata.type).
func (e *Emulator) riskyUserJSON(r *RiskyUser) map[string]any {
	m := map[string]any{"id": r.ID, "isDeleted": r.IsDeleted, "isProcessing": false,
		"riskLastUpdatedDateTime": WireTime(r.LastUpdated), "riskLevel": cmp(r.RiskLevel, "none"), "riskState": cmp(r.RiskState, "none"),
		"riskDetail": cmp(r.RiskDetail, "none"), "userDisplayName": nil, "userPrincipalName": nil}
	if u := e.users[r.ID]; u != nil {
		m["userDisplayName"], m["userPrincipalName"] = u.DisplayName, u.UserPrincipalName
	}
	return m
}

package okta

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Okta System Log event types the Mapper turns into playbook events.
const (
	EventThreatDetected       = "security.threat.detected"
	EventUserRiskDetect       = "user.risk.detect"
	EventUserRiskChange       = "user.risk.change"
	EventEntityRiskAction     = "policy.entity_risk.action"
	EventSessionContextChange = "user.session.context.change"
	EventPrivilegeGrant       = "user.account.privilege.grant"
	EventRoleAssignmentAdd    = "iam.role.assignment.add"
	EventGroupPrivilegeGrant  = "group.privilege.grant"
	EventGroupMembershipAdd   = "group.user_membership.add"
	EventSessionStart         = "user.session.start"
	EventSessionClear         = "user.session.clear"
)

// configChangeTypes are policy and application configuration changes,
// mapped to playbook.EventConfigChanged about the admin who made them.
var configChangeTypes = map[string]playbook.RiskLevel{
	"policy.lifecycle.create":           playbook.RiskLow,
	"policy.lifecycle.update":           playbook.RiskLow,
	"policy.lifecycle.deactivate":       playbook.RiskMedium,
	"policy.lifecycle.delete":           playbook.RiskMedium,
	"policy.rule.update":                playbook.RiskLow,
	"policy.rule.deactivate":            playbook.RiskMedium,
	"policy.rule.delete":                playbook.RiskMedium,
	"application.lifecycle.create":      playbook.RiskLow,
	"application.lifecycle.update":      playbook.RiskLow,
	"application.lifecycle.delete":      playbook.RiskMedium,
	"application.policy.sign_on.update": playbook.RiskLow,
	EventGroupPrivilegeGrant:            playbook.RiskMedium,
}

// Attribute names the Mapper sets on events (beyond the provider-neutral
// "role" and "group" that decide's matrix reads).
const (
	AttrOktaEventType = "okta_event_type"
	AttrIP            = "ip"
	AttrLocation      = "location"
	AttrRole          = "role"
	AttrGroup         = "group"
	AttrGroupName     = "group_name"
	AttrDetection     = "detection"
	AttrPolicyAction  = "policy_action"
	AttrOutcome       = "outcome"
	AttrSessionID     = "external_session_id"
	AttrCauses        = "causes"
)

// MapperConfig configures a Mapper. The zero value maps the ITP and
// privilege events and no group membership.
type MapperConfig struct {
	// Provider is the Subject.Provider of mapped events. Default
	// ProviderName.
	Provider string
	// PrivilegedGroups are group ids or names (case-insensitive) whose new
	// members are reported as playbook.EventPrivilegedGroupAdded.
	PrivilegedGroups []string
	// Source is Event.Source. Default "okta".
	Source string
}

// Mapper turns System Log events into playbook events. It is immutable and
// safe for concurrent use.
type Mapper struct {
	provider, source string
	groups           []string
}

// NewMapper returns a Mapper for cfg.
func NewMapper(cfg MapperConfig) *Mapper {
	m := &Mapper{provider: cfg.Provider, source: cfg.Source}
	if m.provider == "" {
		m.provider = ProviderName
	}
	if m.source == "" {
		m.source = "okta"
	}
	for _, g := range cfg.PrivilegedGroups {
		if g = strings.TrimSpace(g); g != "" {
			m.groups = append(m.groups, strings.ToLower(g))
		}
	}
	return m
}

// Map returns the playbook event for e, or ok=false when e is not a
// signal the playbook acts on (a sign-in, a membership of an unprivileged
// group, an event about no user). Event.ID is the log event's uuid, so a
// signal seen by both the poller and an Event Hook starts one run. An
// error (wrapping ErrBadPayload) means e is a signal but its debugData
// could not be parsed.
func (m *Mapper) Map(e LogEvent) (ev playbook.Event, ok bool, err error) {
	ev, ok, err = m.mapEvent(e)
	if ok {
		ev.Reason, ev.Actor = clip(ev.Reason), clip(ev.Actor)
		ev.Subject.Login, ev.Subject.DisplayName = clip(ev.Subject.Login), clip(ev.Subject.DisplayName)
		for k, v := range ev.Attributes {
			ev.Attributes[k] = clip(v)
		}
	}
	return ev, ok, err
}

func (m *Mapper) mapEvent(e LogEvent) (ev playbook.Event, ok bool, err error) {
	ev = playbook.Event{
		ID:         e.UUID,
		Source:     m.source,
		OccurredAt: e.Published.UTC(),
		Reason:     e.DisplayMessage,
		Attributes: map[string]string{AttrOktaEventType: e.EventType},
	}
	if ip := e.IP(); ip != "" {
		ev.Attributes[AttrIP] = ip
	}
	if loc := e.Location(); loc != "" {
		ev.Attributes[AttrLocation] = loc
	}
	if e.Outcome != nil && e.Outcome.Result != "" {
		ev.Attributes[AttrOutcome] = e.Outcome.Result
	}
	if len(e.Raw) > 0 && len(e.Raw) <= 1<<20 && json.Valid(e.Raw) {
		ev.Raw = e.Raw
	}
	actorUser := strings.EqualFold(e.Actor.Type, "User") && e.Actor.ID != ""
	if e.Actor.AlternateID != "" {
		ev.Actor = e.Actor.AlternateID
	} else {
		ev.Actor = e.Actor.ID
	}
	// subject picks the first target user, else the actor when a user.
	subject := func() bool {
		if us := e.Users(); len(us) > 0 {
			ev.Subject = m.subject(us[0])
			return true
		}
		if actorUser {
			ev.Subject = m.subject(e.Actor)
			return true
		}
		return false
	}

	switch e.EventType {
	case EventUserRiskDetect, EventUserRiskChange, EventEntityRiskAction:
		if !subject() {
			return ev, false, nil
		}
		ev.Type = playbook.EventRiskyUser
		risk, err := parseRisk(e)
		if err != nil {
			return ev, false, err
		}
		if risk.level == playbook.RiskNone && e.EventType == EventEntityRiskAction {
			risk.level = playbook.RiskHigh // the entity risk policy acted on a risky user
		}
		ev.Risk = risk.level
		if risk.detection != "" {
			ev.Attributes[AttrDetection] = risk.detection
			ev.Reason = risk.detection
		}
		if pa := e.Debug("PolicyAction"); pa != "" {
			ev.Attributes[AttrPolicyAction] = pa
		}
		if ev.Actor == ev.Subject.Login || ev.Actor == ev.Subject.ID {
			ev.Actor = "" // the risk engine, not the user, raised it
		}
		return ev, true, nil

	case EventThreatDetected:
		// ThreatInsight: the actor is the IP. Only attempts against a
		// known user (a target of type User) have a subject.
		us := e.Users()
		if len(us) == 0 {
			return ev, false, nil
		}
		ev.Subject = m.subject(us[0])
		ev.Type = playbook.EventRiskySignIn
		ev.Actor = ""
		dets, err := ParseThreatDetections(e.Debug("threatDetections"))
		if err != nil {
			return ev, false, err
		}
		ev.Risk = playbook.RiskHigh // only high threats are logged
		if len(dets) > 0 {
			ev.Risk = playbook.RiskNone
			names := make([]string, 0, len(dets))
			for name, lvl := range dets {
				ev.Risk = max(ev.Risk, riskOf(lvl))
				names = append(names, name)
			}
			slices.Sort(names)
			ev.Attributes[AttrDetection] = strings.Join(names, ", ")
			ev.Reason = "ThreatInsight: " + strings.Join(names, ", ")
		}
		return ev, true, nil

	case EventSessionContextChange:
		if !subject() {
			return ev, false, nil
		}
		ev.Type = playbook.EventSessionSignal
		ev.Risk = playbook.RiskMedium
		if risk, err := parseRisk(e); err != nil {
			return ev, false, err
		} else if risk.level != playbook.RiskNone {
			ev.Risk = risk.level
		}
		if c := e.Debug("Causes"); c != "" {
			ev.Attributes[AttrCauses] = c
		}
		if e.AuthenticationContext != nil && e.AuthenticationContext.ExternalSessionID != "" {
			ev.Attributes[AttrSessionID] = e.AuthenticationContext.ExternalSessionID
		}
		if ip := e.Debug("NewIpAddress"); ip != "" {
			ev.Attributes[AttrIP] = ip
		}
		if ev.Actor == ev.Subject.Login || ev.Actor == ev.Subject.ID {
			ev.Actor = ""
		}
		return ev, true, nil

	case EventPrivilegeGrant, EventRoleAssignmentAdd:
		us := e.Users()
		if len(us) == 0 {
			return ev, false, nil
		}
		ev.Subject = m.subject(us[0])
		ev.Type = playbook.EventRoleAssigned
		ev.Risk = playbook.RiskMedium
		role := grantedRole(e)
		if role != "" {
			ev.Attributes[AttrRole] = role
		}
		ev.Reason = strings.TrimSpace("admin role granted: " + role)
		return ev, true, nil

	case EventGroupMembershipAdd:
		us := e.Users()
		g, found := groupTarget(e)
		if len(us) == 0 || !found || !m.privilegedGroup(g) {
			return ev, false, nil
		}
		ev.Subject = m.subject(us[0])
		ev.Type = playbook.EventPrivilegedGroupAdded
		ev.Risk = playbook.RiskMedium
		ev.Attributes[AttrGroup] = g.ID
		if name := groupName(g); name != "" {
			ev.Attributes[AttrGroupName] = name
		}
		ev.Reason = "added to privileged group " + groupName(g)
		return ev, true, nil
	}

	if risk, found := configChangeTypes[e.EventType]; found {
		if !actorUser {
			return ev, false, nil
		}
		ev.Subject = m.subject(e.Actor)
		ev.Type = playbook.EventConfigChanged
		ev.Risk = risk
		ev.Actor = "" // the subject made the change
		return ev, true, nil
	}
	return ev, false, nil
}

// clip bounds the free text the Mapper copies from an event, so that a
// long value never makes the runner refuse the whole event.
func clip(s string) string {
	const n = 1024
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func (m *Mapper) subject(a Actor) playbook.Subject {
	return playbook.Subject{Provider: m.provider, ID: a.ID, Login: a.AlternateID, DisplayName: a.DisplayName}
}

func (m *Mapper) privilegedGroup(g Actor) bool {
	for _, want := range m.groups {
		if strings.EqualFold(g.ID, want) || strings.EqualFold(g.DisplayName, want) || strings.EqualFold(g.AlternateID, want) {
			return true
		}
	}
	return false
}

func groupTarget(e LogEvent) (Actor, bool) {
	for _, t := range e.Target {
		if strings.EqualFold(t.Type, "UserGroup") && t.ID != "" {
			return t, true
		}
	}
	return Actor{}, false
}

func groupName(g Actor) string {
	if g.DisplayName != "" {
		return g.DisplayName
	}
	return g.AlternateID
}

// grantedRole names the role of a privilege grant: a target of a role
// type, else the last entry of debugData.privilegeGranted (which lists
// every privilege the user now holds).
func grantedRole(e LogEvent) string {
	for _, t := range e.Target {
		switch strings.ToUpper(t.Type) {
		case "ROLE", "ROLE_ASSIGNMENT", "CUSTOM_ROLE":
			if t.AlternateID != "" && t.AlternateID != "unknown" {
				return t.AlternateID
			}
			if t.DisplayName != "" {
				return t.DisplayName
			}
		}
	}
	if g := e.Debug("privilegeGranted"); g != "" {
		parts := strings.Split(g, ",")
		return strings.TrimSpace(parts[len(parts)-1])
	}
	return ""
}

type riskInfo struct {
	level     playbook.RiskLevel
	detection string
}

// parseRisk reads debugData.risk ({level=HIGH, detectionName=..., ...}),
// falling back to debugData.riskLevel.
func parseRisk(e LogEvent) (riskInfo, error) {
	var ri riskInfo
	if s := e.Debug("risk"); s != "" {
		m, err := ParseDebugMap(s)
		if err != nil {
			return ri, fmt.Errorf("log event %s debugData.risk: %w", e.UUID, err)
		}
		ri.level = riskOf(m["level"])
		ri.detection = m["detectionName"]
		if ri.detection == "" {
			ri.detection = m["reasons"]
		}
	}
	if ri.level == playbook.RiskNone {
		ri.level = riskOf(e.Debug("riskLevel"))
	}
	return ri, nil
}

// riskOf maps Okta's LOW/MEDIUM/HIGH to a RiskLevel; anything else is none.
func riskOf(s string) playbook.RiskLevel {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "HIGH":
		return playbook.RiskHigh
	case "MEDIUM":
		return playbook.RiskMedium
	case "LOW":
		return playbook.RiskLow
	}
	return playbook.RiskNone
}

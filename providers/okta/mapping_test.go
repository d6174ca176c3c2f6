package okta_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
)

// itpEvent builds a System Log event of eventType about the user
// 00u1victim with the given debugData members, in the wire format.
func itpEvent(eventType, debugData string, extraTargets ...string) string {
	targets := `{"id":"00u1victim","type":"User","alternateId":"victim@example.com","displayName":"Vic Tim"}`
	for _, t := range extraTargets {
		targets += "," + t
	}
	return fmt.Sprintf(`{"uuid":"uuid-%s","published":"2024-05-01T10:00:00.000Z","eventType":%q,"version":"0","severity":"WARN",
"displayMessage":"msg","actor":{"id":"00u9admin","type":"User","alternateId":"admin@example.com","displayName":"Ad Min"},
"client":{"ipAddress":"203.0.113.9","geographicalContext":{"city":"Lagos","state":null,"country":"Nigeria"}},
"outcome":{"result":"SUCCESS"},"target":[%s],"debugContext":{"debugData":{%s}}}`, eventType, eventType, targets, debugData)
}

func TestMapper(t *testing.T) {
	t.Parallel()
	m := okta.NewMapper(okta.MapperConfig{PrivilegedGroups: []string{"Domain Admins"}})
	group := func(name string) string {
		return fmt.Sprintf(`{"id":"00g1","type":"UserGroup","alternateId":"unknown","displayName":%q}`, name)
	}
	tests := []struct {
		name    string
		in      string
		ok      bool
		typ     playbook.EventType
		risk    playbook.RiskLevel
		subject string
		attrs   map[string]string
		actor   string
	}{
		{name: "risk detect high",
			in: itpEvent("user.risk.detect", `"risk":"{previousLevel=LOW, level=HIGH, detectionName=Session Influenced User Risk, reasons=Anomalous Location, New Device, issuer=OKTA}"`),
			ok: true, typ: playbook.EventRiskyUser, risk: playbook.RiskHigh, subject: "00u1victim",
			attrs: map[string]string{okta.AttrDetection: "Session Influenced User Risk", okta.AttrIP: "203.0.113.9", okta.AttrLocation: "Lagos, Nigeria"}, actor: "admin@example.com"},
		{name: "risk change medium", in: itpEvent("user.risk.change", `"risk":"{level=MEDIUM}"`),
			ok: true, typ: playbook.EventRiskyUser, risk: playbook.RiskMedium, subject: "00u1victim"},
		{name: "entity risk action", in: itpEvent("policy.entity_risk.action", `"PolicyAction":"TERMINATE_ALL_SESSIONS"`),
			ok: true, typ: playbook.EventRiskyUser, risk: playbook.RiskHigh, subject: "00u1victim", attrs: map[string]string{okta.AttrPolicyAction: "TERMINATE_ALL_SESSIONS"}},
		{name: "threat detected", in: itpEvent("security.threat.detected", `"threatDetections":"{\"Password Spray\":\"HIGH\",\"Login failures\":\"MEDIUM\"}"`),
			ok: true, typ: playbook.EventRiskySignIn, risk: playbook.RiskHigh, subject: "00u1victim", attrs: map[string]string{okta.AttrDetection: "Login failures, Password Spray"}},
		{name: "threat detected medium", in: itpEvent("security.threat.detected", `"threatDetections":"{\"Login failures\":\"MEDIUM\"}"`),
			ok: true, typ: playbook.EventRiskySignIn, risk: playbook.RiskMedium, subject: "00u1victim"},
		{name: "session context change", in: itpEvent("user.session.context.change", `"Causes":"ipAddress.change","NewIpAddress":"198.51.100.77"`),
			ok: true, typ: playbook.EventSessionSignal, risk: playbook.RiskMedium, subject: "00u1victim", attrs: map[string]string{okta.AttrCauses: "ipAddress.change", okta.AttrIP: "198.51.100.77"}},
		{name: "privilege grant", in: itpEvent("user.account.privilege.grant", `"privilegeGranted":"Read Only Administrator, Super Administrator"`),
			ok: true, typ: playbook.EventRoleAssigned, risk: playbook.RiskMedium, subject: "00u1victim", attrs: map[string]string{okta.AttrRole: "Super Administrator"}, actor: "admin@example.com"},
		{name: "privileged group add", in: itpEvent("group.user_membership.add", ``, group("Domain Admins")),
			ok: true, typ: playbook.EventPrivilegedGroupAdded, risk: playbook.RiskMedium, subject: "00u1victim", attrs: map[string]string{okta.AttrGroup: "00g1", okta.AttrGroupName: "Domain Admins"}},
		{name: "ordinary group add", in: itpEvent("group.user_membership.add", ``, group("Everyone Else"))},
		{name: "policy deactivated", in: itpEvent("policy.lifecycle.deactivate", ``),
			ok: true, typ: playbook.EventConfigChanged, risk: playbook.RiskMedium, subject: "00u9admin"},
		{name: "sign-in is not a signal", in: itpEvent("user.session.start", ``)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := okta.DecodeLogEvent([]byte(tc.in))
			require.NoError(t, err)
			ev, ok, err := m.Map(e)
			require.NoError(t, err)
			require.Equal(t, tc.ok, ok)
			if !ok {
				return
			}
			require.NoError(t, ev.Validate())
			assert.Equal(t, tc.typ, ev.Type)
			assert.Equal(t, tc.risk, ev.Risk)
			assert.Equal(t, tc.subject, ev.Subject.ID)
			assert.Equal(t, okta.ProviderName, ev.Subject.Provider)
			assert.Equal(t, e.UUID, ev.ID, "the event id must be the uuid so that hook and poller de-duplicate")
			for k, v := range tc.attrs {
				assert.Equal(t, v, ev.Attributes[k], "attribute %s", k)
			}
			if tc.actor != "" {
				assert.Equal(t, tc.actor, ev.Actor)
			}
		})
	}
}

func TestMapperBadDebugData(t *testing.T) {
	t.Parallel()
	m := okta.NewMapper(okta.MapperConfig{})
	for _, in := range []string{
		itpEvent("user.risk.detect", `"risk":"{level=HIGH"`),
		itpEvent("security.threat.detected", `"threatDetections":"Password Spray=HIGH"`),
	} {
		e, err := okta.DecodeLogEvent([]byte(in))
		require.NoError(t, err)
		_, ok, err := m.Map(e)
		require.ErrorIs(t, err, okta.ErrBadPayload)
		assert.False(t, ok)
	}
}

func TestMapperThreatWithoutUser(t *testing.T) {
	t.Parallel()
	in := `{"uuid":"t1","published":"2024-05-01T10:00:00Z","eventType":"security.threat.detected","actor":{"id":"203.0.113.5","type":"IP Address"},"target":[],"debugContext":{"debugData":{"threatDetections":"{\"Password Spray\":\"HIGH\"}"}}}`
	e, err := okta.DecodeLogEvent([]byte(in))
	require.NoError(t, err)
	_, ok, err := okta.NewMapper(okta.MapperConfig{}).Map(e)
	require.NoError(t, err)
	assert.False(t, ok, "a threat with no user target has no subject to contain")
}

func TestMapperClipsLongText(t *testing.T) {
	t.Parallel()
	in := strings.Replace(itpEvent("user.risk.change", `"risk":"{level=HIGH}"`), `"displayMessage":"msg"`, `"displayMessage":"`+strings.Repeat("é", 10000)+`"`, 1)
	e, err := okta.DecodeLogEvent([]byte(in))
	require.NoError(t, err)
	ev, ok, err := okta.NewMapper(okta.MapperConfig{}).Map(e)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, ev.Validate(), "a long displayMessage must not make the event invalid")
	assert.True(t, utf8.ValidString(ev.Reason))
}

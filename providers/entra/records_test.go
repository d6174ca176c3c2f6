package entra_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// docsDetection returns the first item of the documentation's list example.
func docsDetection(t testing.TB) []byte {
	var list struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(readTestdata(t, "graph-riskDetections-list-response.json"), &list); err != nil || len(list.Value) != 1 {
		t.Fatalf("docs sample: %v (%d items)", err, len(list.Value))
	}
	return list.Value[0]
}

func TestDecodeRiskDetection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		raw       []byte
		wantType  playbook.EventType
		wantRisk  playbook.RiskLevel
		wantUser  string
		wantAt    time.Time
		wantAttrs map[string]string
	}{
		{
			name: "documentation example (remediated: no risk left)", raw: docsDetection(t),
			wantType: playbook.EventRiskySignIn, wantRisk: playbook.RiskNone, wantUser: "abcdefab-af90-4edf-ac4c-742ff06735d0",
			wantAt: time.Date(2018, 9, 5, 0, 9, 18, 782285100, time.UTC),
			wantAttrs: map[string]string{"ip": "123.456.7.89", "location": "Seattle, Washington, US", "risk_level": "medium",
				"risk_state": "remediated", "token_issuer": "Azure Active Directory", "info.userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/68.0.3440.106 Safari/537.36"},
		},
		{
			name: "live wire format", raw: readTestdata(t, "live-riskDetection.json"),
			wantType: playbook.EventRiskySignIn, wantRisk: playbook.RiskHigh, wantUser: "4f9c2a71-8b3e-4d6a-9c15-2e7f0b8d3a64",
			wantAt: time.Date(2026, 7, 17, 8, 41, 12, 441039700, time.UTC),
			wantAttrs: map[string]string{"source": "IdentityProtection", "token_issuer": "AzureAD", "location": "Lagos, Lagos, NG",
				"info.mitreTechniques": "T1078.004", "info.userAgent": "Mozilla/5.0 (X11; Linux x86_64)"},
		},
		{
			name:     "leaked credentials, additionalInfo as an array",
			raw:      []byte(`{"id":"d1","userId":"u1","riskEventType":"leakedCredentials","riskLevel":"high","riskState":"atRisk","activity":"user","detectedDateTime":"2026-01-02T03:04:05Z","additionalInfo":[{"Key":"k","Value":7}]}`),
			wantType: playbook.EventCredentialCompromise, wantRisk: playbook.RiskHigh, wantUser: "u1",
			wantAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), wantAttrs: map[string]string{"info.k": "7"},
		},
		{
			name:     "hidden level is watched, not dropped",
			raw:      []byte(`{"id":"d2","userId":"u2","riskLevel":"hidden","riskState":"atRisk","activity":"user"}`),
			wantType: playbook.EventRiskyUser, wantRisk: playbook.RiskMedium, wantUser: "u2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := entra.DecodeRiskDetection(tc.raw)
			require.NoError(t, err)
			assert.Equal(t, tc.wantType, ev.Type)
			assert.Equal(t, tc.wantRisk, ev.Risk)
			assert.Equal(t, tc.wantUser, ev.Subject.ID)
			assert.Equal(t, entra.ProviderName, ev.Subject.Provider)
			assert.True(t, tc.wantAt.Equal(ev.OccurredAt), "OccurredAt = %s, want %s", ev.OccurredAt, tc.wantAt)
			for k, v := range tc.wantAttrs {
				assert.Equal(t, v, ev.Attributes[k], "attribute %s", k)
			}
			require.NoError(t, ev.Validate())
			assert.True(t, json.Valid(ev.Raw))
		})
	}
}

func TestDecodeRiskyUserAndSignIn(t *testing.T) {
	t.Parallel()
	ev, err := entra.DecodeRiskyUser(readTestdata(t, "live-riskyUser.json"))
	require.NoError(t, err)
	assert.Equal(t, playbook.EventRiskyUser, ev.Type)
	assert.Equal(t, playbook.RiskHigh, ev.Risk)
	assert.Equal(t, "ana@contoso.example", ev.Subject.Login)
	assert.Equal(t, "riskyUser/4f9c2a71-8b3e-4d6a-9c15-2e7f0b8d3a64/2026-07-17T08:45:01.7654321Z", ev.ID)

	confirmed, err := entra.DecodeRiskyUser([]byte(`{"id":"u","riskLevel":"none","riskState":"confirmedCompromised","riskLastUpdatedDateTime":"2026-01-01T00:00:00Z"}`))
	require.NoError(t, err)
	assert.Equal(t, playbook.RiskHigh, confirmed.Risk, "confirmed compromised is high whatever the level")

	s, err := entra.DecodeSignIn(readTestdata(t, "live-signIn.json"))
	require.NoError(t, err)
	assert.Equal(t, playbook.SignIn{ID: "66ea54eb-6301-4ee5-be62-ff5a759b0100", Time: time.Date(2026, 7, 17, 8, 41, 12, 441039700, time.UTC),
		IP: "203.0.113.77", Location: "Lagos, Lagos, NG", App: "Office 365 Exchange Online", Success: true, Risk: playbook.RiskHigh}, s)
	failed, err := entra.DecodeSignIn([]byte(`{"id":"x","status":{"errorCode":50126}}`))
	require.NoError(t, err)
	assert.False(t, failed.Success)
}

func TestDecodeDirectoryAudit(t *testing.T) {
	t.Parallel()
	live := readTestdata(t, "live-directoryAudit-add-member-to-role.json")
	opts := entra.AuditOptions{PrivilegedRoles: []string{entra.GlobalAdministratorTemplateID}, PrivilegedGroups: []string{"G-TIER0"}}
	audit := func(category, activity, targets string) []byte {
		return []byte(`{"id":"a1","category":"` + category + `","result":"success","activityDisplayName":"` + activity +
			`","activityDateTime":"2026-07-19T14:02:33.9876543Z","operationType":"Add","initiatedBy":{"user":{"id":"admin-1","userPrincipalName":"admin@contoso.example"}},"targetResources":` + targets + `}`)
	}
	groupTargets := `[{"id":"u7","type":"User","userPrincipalName":"eve@contoso.example","modifiedProperties":[{"displayName":"Group.ObjectID","newValue":"\"g-tier0\""},{"displayName":"Group.DisplayName","newValue":"\"Tier 0\""}]},{"id":"g-tier0","type":"Group","displayName":"Tier 0"}]`
	for _, tc := range []struct {
		name    string
		raw     []byte
		opts    entra.AuditOptions
		ok      bool
		typ     playbook.EventType
		subject string
		risk    playbook.RiskLevel
		attrs   map[string]string
	}{
		{name: "live Add member to role, privileged", raw: live, opts: opts, ok: true, typ: playbook.EventRoleAssigned,
			subject: "3c2b1a09-8f7e-4d6c-5b4a-392817160504", risk: playbook.RiskMedium,
			attrs: map[string]string{"role": entra.GlobalAdministratorTemplateID, "role_name": "Global Administrator", "privileged": "true"}},
		{name: "live Add member to role, not in the privileged list", raw: live, opts: entra.AuditOptions{}, ok: true, typ: playbook.EventRoleAssigned,
			subject: "3c2b1a09-8f7e-4d6c-5b4a-392817160504", risk: playbook.RiskLow, attrs: map[string]string{"privileged": "false"}},
		{name: "member added to a privileged group", raw: audit("GroupManagement", "Add member to group", groupTargets), opts: opts, ok: true,
			typ: playbook.EventPrivilegedGroupAdded, subject: "u7", risk: playbook.RiskMedium, attrs: map[string]string{"group": "g-tier0", "group_name": "Tier 0"}},
		{name: "member added to another group", raw: audit("GroupManagement", "Add member to group", groupTargets), opts: entra.AuditOptions{}, ok: false},
		{name: "conditional access policy updated", raw: audit("Policy", "Update conditional access policy", `[{"id":"p1","type":"Policy","displayName":"Require MFA"}]`), opts: opts, ok: true,
			typ: playbook.EventConfigChanged, subject: "admin-1", risk: playbook.RiskLow, attrs: map[string]string{"target": "Require MFA"}},
		{name: "role removal is not a grant", raw: audit("RoleManagement", "Remove member from role", `[{"id":"u1","type":"User"}]`), opts: opts, ok: false},
		{name: "failure is not a change", raw: []byte(`{"id":"a2","category":"RoleManagement","result":"failure","activityDisplayName":"Add member to role"}`), opts: opts, ok: false},
		{name: "user management is not privilege", raw: audit("UserManagement", "Update user", `[{"id":"u1","type":"User"}]`), opts: opts, ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, ok, err := entra.DecodeDirectoryAudit(tc.raw, tc.opts)
			require.NoError(t, err)
			require.Equal(t, tc.ok, ok)
			if !ok {
				return
			}
			assert.Equal(t, tc.typ, ev.Type)
			assert.Equal(t, tc.subject, ev.Subject.ID)
			assert.Equal(t, tc.risk, ev.Risk)
			for k, v := range tc.attrs {
				assert.Equal(t, v, ev.Attributes[k], "attribute %s", k)
			}
		})
	}
}

// TestDecodersRefuseBadInput checks that malformed records get an error
// wrapping ErrBadRecord that says what is wrong.
func TestDecodersRefuseBadInput(t *testing.T) {
	t.Parallel()
	decoders := map[string]func([]byte) error{
		"riskDetection":  func(b []byte) error { _, err := entra.DecodeRiskDetection(b); return err },
		"riskyUser":      func(b []byte) error { _, err := entra.DecodeRiskyUser(b); return err },
		"signIn":         func(b []byte) error { _, err := entra.DecodeSignIn(b); return err },
		"directoryAudit": func(b []byte) error { _, _, err := entra.DecodeDirectoryAudit(b, entra.AuditOptions{}); return err },
	}
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"not JSON", `{"id":`, "unexpected end"},
		{"an array", `[{"id":"x"}]`, "not a JSON object"},
		{"no id", `{"userId":"u","activityDisplayName":"x"}`, "no id"},
		{"bad timestamp", `{"id":"x","userId":"u","activityDisplayName":"x","detectedDateTime":"yesterday","riskLastUpdatedDateTime":"yesterday","createdDateTime":"yesterday","activityDateTime":"yesterday"}`, "not RFC 3339"},
		{"wrong type", `{"id":7}`, "cannot unmarshal"},
	} {
		for name, dec := range decoders {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				err := dec([]byte(tc.raw))
				require.Error(t, err)
				assert.True(t, errors.Is(err, entra.ErrBadRecord), "%v does not wrap ErrBadRecord", err)
				assert.Contains(t, err.Error(), tc.want)
			})
		}
	}
	_, _, err := entra.DecodeDirectoryAudit([]byte(`{"id":"a","category":"RoleManagement","result":"success","activityDisplayName":"Add member to role","targetResources":[{"id":"u","type":"User"}]}`), entra.AuditOptions{})
	require.ErrorIs(t, err, entra.ErrBadRecord)
	assert.Contains(t, err.Error(), "names no role")
}

func isBadRecord(err error) bool { return errors.Is(err, entra.ErrBadRecord) }

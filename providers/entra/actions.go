package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// ActionDismissRisk dismisses the user's risk at Identity Protection (risk
// level none). Entra-specific; no undo (Graph cannot restore a risk level).
const ActionDismissRisk = "dismiss-risk"

// Action parameter names.
const (
	// ParamRole names the role remove-role removes: a role template id
	// (stable across tenants), a role definition id, a role display name
	// or a role assignment id.
	ParamRole = "role"
	// ParamGroup names the group remove-group-member removes the subject
	// from: a group id or its exact display name.
	ParamGroup = "group"
)

// PasswordMethodID is the id Graph gives every user's password
// authentication method.
const PasswordMethodID = "28c10230-6103-485e-b985-444c60001490"

var actionNames = []string{
	playbook.ActionDisableUser,
	playbook.ActionRevokeSessions,
	playbook.ActionResetCredentials,
	playbook.ActionRemoveRole,
	playbook.ActionRemoveGroupMember,
	playbook.ActionConfirmCompromised,
	ActionDismissRisk,
}

// ActionNames returns the names of the client's actions.
func ActionNames() []string { return slices.Clone(actionNames) }

type applyFunc func(ctx context.Context, c *Client, req playbook.ActionRequest, dry bool) (playbook.ActionResult, error)
type undoFunc func(ctx context.Context, c *Client, req playbook.ActionRequest, prior json.RawMessage) (playbook.ActionResult, error)

type action struct {
	c     *Client
	name  string
	apply applyFunc
	undo  undoFunc
	plan  bool
}

// Actions returns the client's containment actions by name (a fresh map
// each call):
//
//   - disable-user: PATCH /users/{id} accountEnabled=false. Undo
//     re-enables. Already disabled is already-applied.
//   - revoke-sessions: POST /users/{id}/revokeSignInSessions; any 2xx is
//     success. Graph cannot tell whether sessions remain, so every
//     execution with a new key applies (re-revoking is harmless). No undo.
//   - reset-credentials: fails with playbook.ErrUnsupported after checking
//     the user exists. Graph's resetPassword is delegated-only and the
//     client uses app-only credentials; use disable-user and
//     revoke-sessions, then reset by hand. Not a Planner.
//   - remove-role: DELETE /roleManagement/directory/roleAssignments/{id}
//     for every direct assignment of the user that Params["role"] names.
//     Undo re-creates the recorded assignments (same principal, role
//     definition and scope; Graph gives them new ids). No matching
//     assignment is already-applied.
//   - remove-group-member: DELETE /groups/{g}/members/{id}/$ref (the
//     membership, never the member object). Undo adds it back. Not a
//     member is already-applied.
//   - confirm-compromised: POST /identityProtection/riskyUsers/confirmCompromised.
//     Undo dismisses the risk (Graph cannot restore the prior level; the
//     result says so). Already confirmed is already-applied.
//   - dismiss-risk: POST /identityProtection/riskyUsers/dismiss. No undo.
//
// Every action but reset-credentials implements playbook.Planner (reads
// only), and the reversible ones playbook.Undoer. Actions are safe for
// concurrent use and idempotent: a request whose IdempotencyKey was
// applied before (recorded in Config.Ledger) reports already-applied with
// the original Prior, without a call to Graph; concurrent requests with
// one key are serialised. Errors are *playbook.ProviderError wrapping the
// canonical errors (unknown user: ErrNotFound; missing parameter:
// ErrInvalidRequest; 429: ErrThrottled with Graph's Retry-After), or
// ctx.Err().
func (c *Client) Actions() map[string]playbook.Action {
	m := make(map[string]playbook.Action, len(c.actions))
	for name, a := range c.actions {
		switch {
		case a.undo != nil:
			m[name] = &undoableAction{plannedAction{a}}
		case a.plan:
			m[name] = &plannedAction{a}
		default:
			m[name] = a
		}
	}
	return m
}

// Action returns the action named name and whether the client has it.
func (c *Client) Action(name string) (playbook.Action, bool) {
	a, ok := c.Actions()[name]
	return a, ok
}

func (c *Client) newActions() map[string]*action {
	m := map[string]*action{
		playbook.ActionDisableUser:        {name: playbook.ActionDisableUser, apply: applyDisable, undo: undoDisable, plan: true},
		playbook.ActionRevokeSessions:     {name: playbook.ActionRevokeSessions, apply: applyRevoke, plan: true},
		playbook.ActionResetCredentials:   {name: playbook.ActionResetCredentials, apply: applyResetCredentials},
		playbook.ActionRemoveRole:         {name: playbook.ActionRemoveRole, apply: applyRemoveRole, undo: undoRemoveRole, plan: true},
		playbook.ActionRemoveGroupMember:  {name: playbook.ActionRemoveGroupMember, apply: applyRemoveGroup, undo: undoRemoveGroup, plan: true},
		playbook.ActionConfirmCompromised: {name: playbook.ActionConfirmCompromised, apply: applyConfirm, undo: undoConfirm, plan: true},
		ActionDismissRisk:                 {name: ActionDismissRisk, apply: applyDismiss, plan: true},
	}
	for _, a := range m {
		a.c = c
	}
	return m
}

// Name returns the action's well-known name.
func (a *action) Name() string { return a.name }

// Execute applies the action; see Client.Actions.
func (a *action) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	return a.once(ctx, req, "", func() (playbook.ActionResult, error) { return a.apply(ctx, a.c, req, false) })
}

// once runs fn at most once per idempotency key (prefixed by mode).
func (a *action) once(ctx context.Context, req playbook.ActionRequest, mode string, fn func() (playbook.ActionResult, error)) (playbook.ActionResult, error) {
	if err := a.c.checkSubject(a.name, req.Subject); err != nil {
		return playbook.ActionResult{}, err
	}
	if req.IdempotencyKey == "" {
		return fn()
	}
	key := contain.LedgerKey(mode+a.name, req.IdempotencyKey)
	unlock := a.c.keys.Lock(key)
	defer unlock()
	prev, ok, err := a.c.ledger.Get(ctx, key)
	if err != nil {
		return playbook.ActionResult{}, fmt.Errorf("entra %s: reading the idempotency ledger: %w", a.name, err)
	}
	if ok {
		prev.Status = playbook.StatusAlreadyApplied
		prev.Detail = fmt.Sprintf("idempotency key %q already applied: %s", req.IdempotencyKey, prev.Detail)
		return prev, nil
	}
	res, err := fn()
	if err != nil {
		return res, err
	}
	if err := a.c.ledger.Put(context.WithoutCancel(ctx), key, res); err != nil {
		return res, fmt.Errorf("entra %s: the action took effect but recording its idempotency key failed: %w", a.name, err)
	}
	return res, nil
}

type plannedAction struct{ *action }

// Plan reports what Execute would do, reading only.
func (a *plannedAction) Plan(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	if err := a.c.checkSubject(a.name, req.Subject); err != nil {
		return playbook.ActionResult{}, err
	}
	return a.apply(ctx, a.c, req, true)
}

type undoableAction struct{ plannedAction }

// Undo restores the state recorded in done.Prior; see Client.Actions.
func (a *undoableAction) Undo(ctx context.Context, req playbook.ActionRequest, done playbook.ActionResult) (playbook.ActionResult, error) {
	if len(done.Prior) == 0 || !json.Valid(done.Prior) {
		return playbook.ActionResult{}, a.c.errorf(a.name+" undo", http.StatusBadRequest, playbook.ErrInvalidRequest, "the result to undo carries no prior state")
	}
	return a.once(ctx, req, "undo:", func() (playbook.ActionResult, error) { return a.undo(ctx, a.c, req, done.Prior) })
}

var (
	_ playbook.Planner = (*plannedAction)(nil)
	_ playbook.Undoer  = (*undoableAction)(nil)
)

func (c *Client) errorf(op string, status int, sentinel error, format string, args ...any) *playbook.ProviderError {
	return &playbook.ProviderError{Provider: ProviderName, Op: op, Status: status, Err: sentinel, Message: fmt.Sprintf(format, args...)}
}

func (c *Client) checkSubject(op string, s playbook.Subject) error {
	if strings.TrimSpace(s.ID) == "" {
		return c.errorf(op, 0, playbook.ErrInvalidRequest, "the request names no subject (Subject.ID is empty)")
	}
	if s.Provider != "" && s.Provider != ProviderName {
		return c.errorf(op, 0, playbook.ErrInvalidRequest, "subject %q belongs to provider %q, not %q", s.ID, s.Provider, ProviderName)
	}
	return nil
}

func userPath(id string) string { return "/users/" + url.PathEscape(id) }

// graphUser is the part of a Graph user the provider reads.
type graphUser struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
	DisplayName       string `json:"displayName"`
	Department        string `json:"department"`
	JobTitle          string `json:"jobTitle"`
	AccountEnabled    *bool  `json:"accountEnabled"`
	CreatedDateTime   Time   `json:"createdDateTime"`
	Manager           *struct {
		ID                string `json:"id"`
		UserPrincipalName string `json:"userPrincipalName"`
	} `json:"manager"`
}

func (c *Client) getUser(ctx context.Context, op, id string, selectFields string) (graphUser, error) {
	var u graphUser
	_, err := c.do(ctx, request{op: op, method: http.MethodGet, path: userPath(id), query: url.Values{"$select": {selectFields}}}, &u)
	return u, err
}

func dryRun(detail string, prior any) playbook.ActionResult {
	return playbook.ActionResult{Status: playbook.StatusDryRun, Detail: "would " + detail, Prior: mustJSON(prior)}
}

func mustJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// --- disable-user ---

type enabledPrior struct {
	AccountEnabled bool `json:"accountEnabled"`
}

func applyDisable(ctx context.Context, c *Client, req playbook.ActionRequest, dry bool) (playbook.ActionResult, error) {
	const op = playbook.ActionDisableUser
	u, err := c.getUser(ctx, op, req.Subject.ID, "id,accountEnabled")
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if u.AccountEnabled != nil && !*u.AccountEnabled {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: "account " + req.Subject.ID + " is already disabled", Prior: mustJSON(enabledPrior{false})}, nil
	}
	if dry {
		return dryRun("disable account "+req.Subject.ID+" (PATCH accountEnabled=false)", enabledPrior{true}), nil
	}
	status, err := c.do(ctx, request{op: op, method: http.MethodPatch, path: userPath(u.ID), body: map[string]bool{"accountEnabled": false}}, nil)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusApplied, Detail: "disabled account " + req.Subject.ID,
		Prior: mustJSON(enabledPrior{true}), Response: map[string]any{"status": status}}, nil
}

func undoDisable(ctx context.Context, c *Client, req playbook.ActionRequest, prior json.RawMessage) (playbook.ActionResult, error) {
	const op = playbook.ActionDisableUser + " undo"
	var p enabledPrior
	if err := json.Unmarshal(prior, &p); err != nil {
		return playbook.ActionResult{}, c.errorf(op, 0, playbook.ErrInvalidRequest, "prior state is not a disable-user prior: %v", err)
	}
	u, err := c.getUser(ctx, op, req.Subject.ID, "id,accountEnabled")
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if !p.AccountEnabled || u.AccountEnabled == nil || *u.AccountEnabled {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: "account " + req.Subject.ID + " is already in its prior state"}, nil
	}
	status, err := c.do(ctx, request{op: op, method: http.MethodPatch, path: userPath(u.ID), body: map[string]bool{"accountEnabled": true}}, nil)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Detail: "re-enabled account " + req.Subject.ID, Response: map[string]any{"status": status}}, nil
}

// --- revoke-sessions ---

func applyRevoke(ctx context.Context, c *Client, req playbook.ActionRequest, dry bool) (playbook.ActionResult, error) {
	const op = playbook.ActionRevokeSessions
	if dry {
		if _, err := c.getUser(ctx, op, req.Subject.ID, "id"); err != nil {
			return playbook.ActionResult{}, err
		}
		return dryRun("revoke every sign-in session and refresh token of "+req.Subject.ID, nil), nil
	}
	var out struct {
		Value *bool `json:"value"`
	}
	status, err := c.do(ctx, request{op: op, method: http.MethodPost, path: userPath(req.Subject.ID) + "/revokeSignInSessions"}, &out)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	// Graph documents 204 but answers 200 {"value": true}: any 2xx is success.
	resp := map[string]any{"status": status}
	if out.Value != nil {
		resp["value"] = *out.Value
	}
	return playbook.ActionResult{Status: playbook.StatusApplied, Detail: "revoked the sign-in sessions of " + req.Subject.ID +
		" (applications notice within minutes; B2B guests' home sessions are not affected)", Response: resp}, nil
}

// --- reset-credentials ---

func applyResetCredentials(ctx context.Context, c *Client, req playbook.ActionRequest, _ bool) (playbook.ActionResult, error) {
	const op = playbook.ActionResetCredentials
	if _, err := c.getUser(ctx, op, req.Subject.ID, "id"); err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{}, c.errorf(op, 0, playbook.ErrUnsupported,
		"Graph's password reset (POST /users/{id}/authentication/methods/%s/resetPassword) accepts delegated permissions only, "+
			"and this client authenticates as an application; disable the account and revoke its sessions, then reset the password by hand",
		PasswordMethodID)
}

// --- remove-role ---

// assignment is a Graph unifiedRoleAssignment, as recorded for undo.
type assignment struct {
	ID               string `json:"id"`
	PrincipalID      string `json:"principalId"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	DirectoryScopeID string `json:"directoryScopeId"`
	RoleName         string `json:"roleName,omitempty"`
	RoleTemplateID   string `json:"roleTemplateId,omitempty"`
}

type graphAssignment struct {
	ID               string `json:"id"`
	PrincipalID      string `json:"principalId"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	DirectoryScopeID string `json:"directoryScopeId"`
	RoleDefinition   *struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		TemplateID  string `json:"templateId"`
	} `json:"roleDefinition"`
}

func (g graphAssignment) assignment() assignment {
	a := assignment{ID: g.ID, PrincipalID: g.PrincipalID, RoleDefinitionID: g.RoleDefinitionID, DirectoryScopeID: g.DirectoryScopeID}
	if g.RoleDefinition != nil {
		a.RoleName, a.RoleTemplateID = g.RoleDefinition.DisplayName, g.RoleDefinition.TemplateID
	}
	return a
}

func (a assignment) matches(ref string) bool {
	for _, v := range []string{a.ID, a.RoleDefinitionID, a.RoleTemplateID, a.RoleName} {
		if v != "" && strings.EqualFold(v, ref) {
			return true
		}
	}
	return false
}

// assignments lists the direct role assignments of principal, with their
// role definitions.
func (c *Client) assignments(ctx context.Context, op, principal string) ([]assignment, error) {
	var out []assignment
	err := c.list(ctx, request{op: op, method: http.MethodGet, path: "/roleManagement/directory/roleAssignments",
		query: url.Values{"$filter": {"principalId eq " + quote(principal)}, "$expand": {"roleDefinition"}}},
		func(raw json.RawMessage) error {
			var g graphAssignment
			if err := json.Unmarshal(raw, &g); err != nil {
				return c.errorf(op, http.StatusOK, playbook.ErrUnavailable, "Graph returned a role assignment that does not decode: %v", err)
			}
			out = append(out, g.assignment())
			return nil
		})
	return out, err
}

func param(c *Client, op string, req playbook.ActionRequest, name string) (string, error) {
	v := strings.TrimSpace(req.Params[name])
	if v == "" {
		return "", c.errorf(op, 0, playbook.ErrInvalidRequest, "Params[%q] is required", name)
	}
	return v, nil
}

type rolePrior struct {
	Assignments []assignment `json:"assignments"`
}

func applyRemoveRole(ctx context.Context, c *Client, req playbook.ActionRequest, dry bool) (playbook.ActionResult, error) {
	const op = playbook.ActionRemoveRole
	ref, err := param(c, op, req, ParamRole)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	u, err := c.getUser(ctx, op, req.Subject.ID, "id")
	if err != nil {
		return playbook.ActionResult{}, err
	}
	all, err := c.assignments(ctx, op, u.ID)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	var match []assignment
	for _, a := range all {
		if a.matches(ref) {
			match = append(match, a)
		}
	}
	prior := rolePrior{Assignments: match}
	if dry {
		if len(match) == 0 {
			return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: fmt.Sprintf("%s holds no direct assignment of role %q", req.Subject.ID, ref),
				Prior: mustJSON(rolePrior{Assignments: []assignment{}})}, nil
		}
		return dryRun(fmt.Sprintf("remove %d assignment(s) of role %q from %s", len(match), ref, req.Subject.ID), prior), nil
	}
	// An earlier attempt with this key may have removed some assignments
	// before failing: keep them in the prior state, so that undo restores
	// everything this step removed.
	earlier, err := c.pendingPrior(ctx, req)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	for _, a := range earlier.Assignments {
		if !slices.ContainsFunc(prior.Assignments, func(x assignment) bool { return x.ID == a.ID }) {
			prior.Assignments = append(prior.Assignments, a)
		}
	}
	if len(match) == 0 {
		if len(earlier.Assignments) == 0 {
			return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: fmt.Sprintf("%s holds no direct assignment of role %q", req.Subject.ID, ref),
				Prior: mustJSON(rolePrior{Assignments: []assignment{}})}, nil
		}
		return playbook.ActionResult{Status: playbook.StatusApplied, Detail: fmt.Sprintf("removed %d assignment(s) of role %q from %s in an earlier attempt", len(earlier.Assignments), ref, req.Subject.ID),
			Prior: mustJSON(prior)}, nil
	}
	if err := c.savePendingPrior(ctx, req, prior); err != nil {
		return playbook.ActionResult{}, err
	}
	removed := 0
	for _, a := range match {
		_, err := c.do(ctx, request{op: op, method: http.MethodDelete, path: "/roleManagement/directory/roleAssignments/" + url.PathEscape(a.ID)}, nil)
		if errors.Is(err, playbook.ErrNotFound) {
			continue // removed meanwhile: the desired state
		}
		if err != nil {
			if removed > 0 {
				// The removed ones are in the pending prior: a retry with
				// the same key finishes the step and reports them all.
				return playbook.ActionResult{}, fmt.Errorf("%w (after removing %d of %d assignments)", err, removed, len(match))
			}
			return playbook.ActionResult{}, err
		}
		removed++
	}
	status := playbook.StatusApplied
	if removed == 0 && len(earlier.Assignments) == 0 {
		status = playbook.StatusAlreadyApplied
	}
	return playbook.ActionResult{Status: status, Detail: fmt.Sprintf("removed %d assignment(s) of role %q from %s", removed, ref, req.Subject.ID),
		Prior: mustJSON(prior), Response: map[string]any{"removed": removed}}, nil
}

// pendingPrior returns the assignments an earlier attempt with req's
// idempotency key recorded before removing them.
func (c *Client) pendingPrior(ctx context.Context, req playbook.ActionRequest) (rolePrior, error) {
	var p rolePrior
	if req.IdempotencyKey == "" {
		return p, nil
	}
	res, ok, err := c.ledger.Get(ctx, contain.LedgerKey("pending:"+playbook.ActionRemoveRole, req.IdempotencyKey))
	if err != nil {
		return p, fmt.Errorf("entra %s: reading the idempotency ledger: %w", playbook.ActionRemoveRole, err)
	}
	if ok && len(res.Prior) > 0 {
		_ = json.Unmarshal(res.Prior, &p)
	}
	return p, nil
}

// savePendingPrior records the assignments about to be removed, before
// the first DELETE.
func (c *Client) savePendingPrior(ctx context.Context, req playbook.ActionRequest, p rolePrior) error {
	if req.IdempotencyKey == "" {
		return nil
	}
	err := c.ledger.Put(context.WithoutCancel(ctx), contain.LedgerKey("pending:"+playbook.ActionRemoveRole, req.IdempotencyKey), playbook.ActionResult{Prior: mustJSON(p)})
	if err != nil {
		return fmt.Errorf("entra %s: recording the assignments to remove: %w", playbook.ActionRemoveRole, err)
	}
	return nil
}

func undoRemoveRole(ctx context.Context, c *Client, req playbook.ActionRequest, raw json.RawMessage) (playbook.ActionResult, error) {
	const op = playbook.ActionRemoveRole + " undo"
	var p rolePrior
	if err := json.Unmarshal(raw, &p); err != nil {
		return playbook.ActionResult{}, c.errorf(op, 0, playbook.ErrInvalidRequest, "prior state is not a remove-role prior: %v", err)
	}
	restored := 0
	for _, a := range p.Assignments {
		if a.PrincipalID == "" || a.RoleDefinitionID == "" {
			return playbook.ActionResult{}, c.errorf(op, 0, playbook.ErrInvalidRequest, "recorded assignment %q lacks principal or role definition", a.ID)
		}
		current, err := c.assignments(ctx, op, a.PrincipalID)
		if err != nil {
			return playbook.ActionResult{}, err
		}
		if slices.ContainsFunc(current, func(x assignment) bool {
			return strings.EqualFold(x.RoleDefinitionID, a.RoleDefinitionID) && x.DirectoryScopeID == a.DirectoryScopeID
		}) {
			continue
		}
		body := map[string]string{"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "principalId": a.PrincipalID,
			"roleDefinitionId": a.RoleDefinitionID, "directoryScopeId": cmpOr(a.DirectoryScopeID, "/")}
		if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/roleManagement/directory/roleAssignments", body: body}, nil); err != nil {
			return playbook.ActionResult{}, err
		}
		restored++
	}
	if restored == 0 {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: "every recorded role assignment of " + req.Subject.ID + " is already in place"}, nil
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Detail: fmt.Sprintf("re-created %d role assignment(s) of %s", restored, req.Subject.ID)}, nil
}

// --- remove-group-member ---

type groupPrior struct {
	GroupID  string `json:"groupId"`
	MemberID string `json:"memberId"`
}

// resolveGroup returns the id of the group ref names (an id or an exact
// display name).
func (c *Client) resolveGroup(ctx context.Context, op, ref string) (string, error) {
	var g struct {
		ID string `json:"id"`
	}
	_, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/groups/" + url.PathEscape(ref), query: url.Values{"$select": {"id"}}}, &g)
	if err == nil {
		return g.ID, nil
	}
	if !errors.Is(err, playbook.ErrNotFound) && !errors.Is(err, playbook.ErrInvalidRequest) {
		return "", err
	}
	var ids []string
	err = c.list(ctx, request{op: op, method: http.MethodGet, path: "/groups",
		query: url.Values{"$filter": {"displayName eq " + quote(ref)}, "$select": {"id"}}},
		func(raw json.RawMessage) error {
			var g struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(raw, &g) == nil && g.ID != "" {
				ids = append(ids, g.ID)
			}
			return nil
		})
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", c.errorf(op, http.StatusNotFound, playbook.ErrNotFound, "no group has id or display name %q", ref)
	case 1:
		return ids[0], nil
	}
	return "", c.errorf(op, 0, playbook.ErrInvalidRequest, "%d groups are named %q; name the group by id", len(ids), ref)
}

// isMember reports whether member is a direct member of group.
func (c *Client) isMember(ctx context.Context, op, group, member string) (bool, error) {
	found := false
	errFound := errors.New("found")
	err := c.list(ctx, request{op: op, method: http.MethodGet, path: "/groups/" + url.PathEscape(group) + "/members",
		query: url.Values{"$select": {"id"}, "$top": {"999"}}},
		func(raw json.RawMessage) error {
			var m struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(raw, &m) == nil && strings.EqualFold(m.ID, member) {
				found = true
				return errFound
			}
			return nil
		})
	if err != nil && !errors.Is(err, errFound) {
		return false, err
	}
	return found, nil
}

func applyRemoveGroup(ctx context.Context, c *Client, req playbook.ActionRequest, dry bool) (playbook.ActionResult, error) {
	const op = playbook.ActionRemoveGroupMember
	ref, err := param(c, op, req, ParamGroup)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	u, err := c.getUser(ctx, op, req.Subject.ID, "id")
	if err != nil {
		return playbook.ActionResult{}, err
	}
	gid, err := c.resolveGroup(ctx, op, ref)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	prior := groupPrior{GroupID: gid, MemberID: u.ID}
	member, err := c.isMember(ctx, op, gid, u.ID)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if !member {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: fmt.Sprintf("%s is not a direct member of group %s", req.Subject.ID, gid), Prior: mustJSON(prior)}, nil
	}
	if dry {
		return dryRun(fmt.Sprintf("remove %s from group %s", req.Subject.ID, gid), prior), nil
	}
	// The /$ref form removes the membership; without it Graph may delete
	// the member object itself.
	_, err = c.do(ctx, request{op: op, method: http.MethodDelete, path: "/groups/" + url.PathEscape(gid) + "/members/" + url.PathEscape(u.ID) + "/$ref"}, nil)
	if errors.Is(err, playbook.ErrNotFound) {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: fmt.Sprintf("%s left group %s meanwhile", req.Subject.ID, gid), Prior: mustJSON(prior)}, nil
	}
	if err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusApplied, Detail: fmt.Sprintf("removed %s from group %s", req.Subject.ID, gid), Prior: mustJSON(prior)}, nil
}

func undoRemoveGroup(ctx context.Context, c *Client, req playbook.ActionRequest, raw json.RawMessage) (playbook.ActionResult, error) {
	const op = playbook.ActionRemoveGroupMember + " undo"
	var p groupPrior
	if err := json.Unmarshal(raw, &p); err != nil || p.GroupID == "" || p.MemberID == "" {
		return playbook.ActionResult{}, c.errorf(op, 0, playbook.ErrInvalidRequest, "prior state is not a remove-group-member prior")
	}
	member, err := c.isMember(ctx, op, p.GroupID, p.MemberID)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if member {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: fmt.Sprintf("%s is already a member of group %s", p.MemberID, p.GroupID)}, nil
	}
	body := map[string]string{"@odata.id": c.graphURL + "/directoryObjects/" + url.PathEscape(p.MemberID)}
	if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/groups/" + url.PathEscape(p.GroupID) + "/members/$ref", body: body}, nil); err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Detail: fmt.Sprintf("added %s back to group %s", p.MemberID, p.GroupID)}, nil
}

// --- confirm-compromised / dismiss-risk ---

type riskPrior struct {
	RiskLevel string `json:"riskLevel"`
	RiskState string `json:"riskState"`
}

// riskyUser returns the user's Identity Protection state; a user Identity
// Protection never flagged has none (riskState "none"). An unknown user is
// ErrNotFound.
func (c *Client) riskyUser(ctx context.Context, op, id string) (riskPrior, string, error) {
	u, err := c.getUser(ctx, op, id, "id")
	if err != nil {
		return riskPrior{}, "", err
	}
	var r RiskyUser
	_, err = c.do(ctx, request{op: op, method: http.MethodGet, path: "/identityProtection/riskyUsers/" + url.PathEscape(u.ID)}, &r)
	if errors.Is(err, playbook.ErrNotFound) {
		return riskPrior{RiskLevel: "none", RiskState: "none"}, u.ID, nil
	}
	if err != nil {
		return riskPrior{}, "", err
	}
	return riskPrior{RiskLevel: r.RiskLevel, RiskState: r.RiskState}, u.ID, nil
}

func applyConfirm(ctx context.Context, c *Client, req playbook.ActionRequest, dry bool) (playbook.ActionResult, error) {
	const op = playbook.ActionConfirmCompromised
	prior, id, err := c.riskyUser(ctx, op, req.Subject.ID)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if strings.EqualFold(prior.RiskState, "confirmedCompromised") {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: req.Subject.ID + " is already confirmed compromised", Prior: mustJSON(prior)}, nil
	}
	if dry {
		return dryRun("confirm "+req.Subject.ID+" compromised (risk level high)", prior), nil
	}
	status, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/identityProtection/riskyUsers/confirmCompromised", body: map[string][]string{"userIds": {id}}}, nil)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusApplied, Detail: "confirmed " + req.Subject.ID + " compromised", Prior: mustJSON(prior), Response: map[string]any{"status": status}}, nil
}

func undoConfirm(ctx context.Context, c *Client, req playbook.ActionRequest, raw json.RawMessage) (playbook.ActionResult, error) {
	const op = playbook.ActionConfirmCompromised + " undo"
	var p riskPrior
	if err := json.Unmarshal(raw, &p); err != nil {
		return playbook.ActionResult{}, c.errorf(op, 0, playbook.ErrInvalidRequest, "prior state is not a confirm-compromised prior: %v", err)
	}
	now, id, err := c.riskyUser(ctx, op, req.Subject.ID)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if !strings.EqualFold(now.RiskState, "confirmedCompromised") {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: fmt.Sprintf("%s is no longer confirmed compromised (risk state %s)", req.Subject.ID, now.RiskState)}, nil
	}
	if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/identityProtection/riskyUsers/dismiss", body: map[string][]string{"userIds": {id}}}, nil); err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Detail: fmt.Sprintf("dismissed the risk of %s; Graph cannot restore the prior level (%s, state %s), the user's risk is now none",
		req.Subject.ID, p.RiskLevel, p.RiskState)}, nil
}

func applyDismiss(ctx context.Context, c *Client, req playbook.ActionRequest, dry bool) (playbook.ActionResult, error) {
	const op = ActionDismissRisk
	prior, id, err := c.riskyUser(ctx, op, req.Subject.ID)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if strings.EqualFold(prior.RiskState, "none") || strings.EqualFold(prior.RiskState, "dismissed") {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: req.Subject.ID + " carries no open risk (state " + prior.RiskState + ")", Prior: mustJSON(prior)}, nil
	}
	if dry {
		return dryRun("dismiss the risk of "+req.Subject.ID, prior), nil
	}
	if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/identityProtection/riskyUsers/dismiss", body: map[string][]string{"userIds": {id}}}, nil); err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusApplied, Detail: "dismissed the risk of " + req.Subject.ID, Prior: mustJSON(prior)}, nil
}

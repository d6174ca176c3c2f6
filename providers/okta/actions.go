package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// ActionDeactivateUser deactivates the user (deprovisions their apps). It
// is registered only with ProviderConfig.AllowDeactivate.
const ActionDeactivateUser = "deactivate-user"

// Action parameter names.
const (
	// ParamRole names the admin role remove-role removes: a role type
	// (SUPER_ADMIN), a role label ("Super Administrator") or an
	// assignment id.
	ParamRole = "role"
	// ParamGroup names the group remove-group-member removes the subject
	// from: a group id or its exact name.
	ParamGroup = "group"
	// ParamMode selects reset-credentials' effect: "expire" (default,
	// POST .../lifecycle/expire_password) or "reset" (POST
	// .../lifecycle/reset_password, the user must recover).
	ParamMode = "mode"
	// ParamOAuthTokens is "true" or "false": whether revoke-sessions also
	// revokes the user's OAuth tokens. Default:
	// ProviderConfig.RevokeOAuthTokens.
	ParamOAuthTokens = "oauth_tokens"
	// ParamSendEmail is "true" (default) or "false": whether
	// reset-credentials in reset mode e-mails the user the reset link.
	// With "false" Okta returns the link, which the action discards: it is
	// a credential.
	ParamSendEmail = "send_email"
)

// actionDef is one action: inspect reads the account and says what would
// be done; undo, when set, restores a prior state.
type actionDef struct {
	inspect func(ctx context.Context, p *Provider, req playbook.ActionRequest) (plan, error)
	undo    func(ctx context.Context, p *Provider, req playbook.ActionRequest, prior json.RawMessage) (playbook.ActionResult, error)
}

// plan is what an action found before changing anything.
type plan struct {
	already              bool
	prior                any
	alreadyMsg, wouldMsg string
	doneMsg              string
	apply                func(ctx context.Context) (alreadyNow bool, err error)
	response             map[string]any
}

// ActionNames returns the names of the actions p registers, sorted.
func (p *Provider) ActionNames() []string { return slices.Sorted(maps.Keys(p.actions)) }

// Actions returns the provider's containment actions by name, in a fresh
// map:
//
//   - disable-user suspends an ACTIVE user (POST .../lifecycle/suspend).
//     A SUSPENDED or DEPROVISIONED user is already-applied; Okta refuses
//     to suspend users in other statuses (400 E0000001), which is
//     reported as playbook.ErrConflict. Undo unsuspends when the user was
//     ACTIVE before.
//   - revoke-sessions clears the user's sessions (DELETE
//     .../sessions, with oauthTokens=true when configured or asked for
//     by Params["oauth_tokens"]). Okta cannot
//     list a user's sessions, so the action reads the System Log: when the
//     latest user.session.clear of the user is newer than their latest
//     user.session.start, it is already-applied. No undo.
//   - reset-credentials expires the password (already-applied when
//     PASSWORD_EXPIRED) or, with Params["mode"]="reset", starts a password
//     reset (already-applied in RECOVERY). No undo.
//   - remove-role removes the user's direct assignments of Params["role"]
//     (DELETE .../roles/{id}); a role held only through a group is a
//     playbook.ErrConflict (remove the group membership instead). Undo
//     assigns the same role types again.
//   - remove-group-member removes the user from Params["group"] (DELETE
//     /api/v1/groups/{gid}/users/{uid}); only OKTA_GROUP groups can be
//     changed. Undo adds the membership back.
//   - confirm-compromised sets the user's Identity Threat Protection
//     risk to HIGH (PUT .../risk), already-applied when it is HIGH. Undo
//     sets it back to LOW, the only other level Okta accepts as an
//     override. Needs ITP.
//   - deactivate-user (only with AllowDeactivate) deactivates the user.
//     Undo activates them again (without e-mail).
//
// Every action implements playbook.Planner (reads only) and the
// reversible ones playbook.Undoer. Actions are safe for concurrent use and
// idempotent twice over: the account's state is read before any write and
// an account already in the desired state is StatusAlreadyApplied, and a
// request whose IdempotencyKey was applied before returns the recorded
// result as already-applied without calling Okta (the same key for
// another action or subject is playbook.ErrConflict). Errors are
// *playbook.ProviderError values wrapping the canonical errors, throttling
// carrying the delay until X-Rate-Limit-Reset; a context that ends returns
// ctx.Err(), and the step may or may not have taken effect.
func (p *Provider) Actions() map[string]playbook.Action {
	out := make(map[string]playbook.Action, len(p.actions))
	for name, d := range p.actions {
		a := &action{p: p, name: name, def: d}
		if d.undo != nil {
			out[name] = &undoableAction{a}
		} else {
			out[name] = a
		}
	}
	return out
}

func (p *Provider) newActions() map[string]actionDef {
	m := map[string]actionDef{
		playbook.ActionDisableUser:        {inspect: inspectSuspend, undo: undoSuspend},
		playbook.ActionRevokeSessions:     {inspect: inspectSessions},
		playbook.ActionResetCredentials:   {inspect: inspectCredentials},
		playbook.ActionRemoveRole:         {inspect: inspectRole, undo: undoRole},
		playbook.ActionRemoveGroupMember:  {inspect: inspectGroup, undo: undoGroup},
		playbook.ActionConfirmCompromised: {inspect: inspectRisk, undo: undoRisk},
	}
	if p.deactivate {
		m[ActionDeactivateUser] = actionDef{inspect: inspectDeactivate, undo: undoDeactivate}
	}
	return m
}

type action struct {
	p    *Provider
	name string
	def  actionDef
}

// Name returns the action's name.
func (a *action) Name() string { return a.name }

// Execute applies the action; see Provider.Actions.
func (a *action) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	return a.p.run(ctx, a.name, "", req, func(ctx context.Context) (playbook.ActionResult, error) {
		pl, err := a.def.inspect(ctx, a.p, req)
		if err != nil {
			return playbook.ActionResult{}, err
		}
		if pl.already {
			return result(playbook.StatusAlreadyApplied, pl.alreadyMsg, pl)
		}
		again, err := pl.apply(ctx)
		if err != nil {
			return playbook.ActionResult{}, err
		}
		if again {
			return result(playbook.StatusAlreadyApplied, pl.alreadyMsg, pl)
		}
		return result(playbook.StatusApplied, pl.doneMsg, pl)
	})
}

// Plan reports what Execute would do, reading only.
func (a *action) Plan(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	if err := a.p.checkSubject(a.name, req.Subject); err != nil {
		return playbook.ActionResult{}, err
	}
	pl, err := a.def.inspect(ctx, a.p, req)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if pl.already {
		return result(playbook.StatusAlreadyApplied, pl.alreadyMsg, pl)
	}
	return result(playbook.StatusDryRun, pl.wouldMsg, pl)
}

type undoableAction struct{ *action }

// Undo restores the state recorded in done.Prior; see Provider.Actions.
func (a *undoableAction) Undo(ctx context.Context, req playbook.ActionRequest, done playbook.ActionResult) (playbook.ActionResult, error) {
	return a.p.run(ctx, a.name, "undo:", req, func(ctx context.Context) (playbook.ActionResult, error) {
		if len(done.Prior) == 0 {
			return playbook.ActionResult{}, a.p.errorf("undo "+a.name, playbook.ErrInvalidRequest, "the result to undo carries no Prior state")
		}
		return a.def.undo(ctx, a.p, req, done.Prior)
	})
}

var (
	_ playbook.Planner = (*action)(nil)
	_ playbook.Undoer  = (*undoableAction)(nil)
)

func result(st playbook.ActionStatus, detail string, pl plan) (playbook.ActionResult, error) {
	raw, err := json.Marshal(pl.prior)
	if err != nil {
		return playbook.ActionResult{}, fmt.Errorf("okta: encoding prior state: %w", err)
	}
	return playbook.ActionResult{Status: st, Detail: detail, Prior: raw, Response: pl.response}, nil
}

// keyRecord is what the idempotency store keeps per key.
type keyRecord struct {
	Op      string                `json:"op"`
	Subject string                `json:"subject"`
	Result  playbook.ActionResult `json:"result"`
}

// run executes fn once per idempotency key: a key already recorded returns
// its result as already-applied.
func (p *Provider) run(ctx context.Context, name, prefix string, req playbook.ActionRequest, fn func(context.Context) (playbook.ActionResult, error)) (playbook.ActionResult, error) {
	op := prefix + name
	if err := p.checkSubject(op, req.Subject); err != nil {
		return playbook.ActionResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return playbook.ActionResult{}, err
	}
	key := ""
	if req.IdempotencyKey != "" {
		key = "idempotency/" + prefix + req.IdempotencyKey
		unlock := p.locks.Lock(key)
		defer unlock()
		raw, ok, err := p.store.Get(ctx, key)
		if err != nil {
			return playbook.ActionResult{}, fmt.Errorf("okta %s: reading the idempotency record: %w", op, err)
		}
		if ok {
			var rec keyRecord
			if err := json.Unmarshal([]byte(raw), &rec); err != nil {
				return playbook.ActionResult{}, fmt.Errorf("okta %s: idempotency record for key %q is corrupt: %w", op, req.IdempotencyKey, err)
			}
			if rec.Op != op || rec.Subject != req.Subject.ID {
				return playbook.ActionResult{}, p.errorf(op, playbook.ErrConflict,
					"idempotency key %q was used for %s on user %q, not %s on user %q", req.IdempotencyKey, rec.Op, rec.Subject, op, req.Subject.ID)
			}
			res := rec.Result
			res.Status = playbook.StatusAlreadyApplied
			res.Detail = fmt.Sprintf("idempotency key %q already applied: %s", req.IdempotencyKey, rec.Result.Detail)
			return res, nil
		}
	}
	res, err := fn(ctx)
	if err != nil || key == "" {
		return res, err
	}
	raw, merr := json.Marshal(keyRecord{Op: op, Subject: req.Subject.ID, Result: res})
	if merr == nil {
		merr = p.store.Put(context.WithoutCancel(ctx), key, string(raw))
	}
	if merr != nil {
		// The effect is in place; a retry with the same key finds the
		// account in the desired state and reports already-applied.
		return playbook.ActionResult{}, fmt.Errorf("okta %s: recording the idempotency key: %w", op, merr)
	}
	return res, nil
}

func (p *Provider) checkSubject(op string, s playbook.Subject) error {
	if strings.TrimSpace(s.ID) == "" {
		return p.errorf(op, playbook.ErrInvalidRequest, "the request names no subject (Subject.ID is empty)")
	}
	if s.Provider != "" && s.Provider != p.c.name {
		return p.errorf(op, playbook.ErrInvalidRequest, "subject %q belongs to provider %q, not %q", s.ID, s.Provider, p.c.name)
	}
	return nil
}

func (p *Provider) errorf(op string, err error, format string, args ...any) error {
	return &playbook.ProviderError{Provider: p.c.name, Op: op, Message: fmt.Sprintf(format, args...), Err: err}
}

// send makes a write call and discards the reply, which may hold a reset
// link or a temporary password: credentials never reach a result.
func (p *Provider) send(ctx context.Context, method, op, path string, q url.Values, scope string, body any) error {
	_, err := p.c.do(ctx, call{op: op, method: method, path: path, query: q, scope: scope, body: body})
	return err
}

func userPath(id string) string { return "/api/v1/users/" + esc(id) }

func hasCode(err error, code string) bool {
	var pe *playbook.ProviderError
	return errors.As(err, &pe) && pe.Code == code
}

// --- disable-user ---

type statusPrior struct {
	Status string `json:"status"`
}

func inspectSuspend(ctx context.Context, p *Provider, req playbook.ActionRequest) (plan, error) {
	id := req.Subject.ID
	u, err := p.c.GetUser(ctx, id)
	if err != nil {
		return plan{}, err
	}
	pl := plan{prior: statusPrior{Status: u.Status},
		alreadyMsg: fmt.Sprintf("user %s is already %s", id, u.Status),
		wouldMsg:   "would suspend user " + id, doneMsg: "suspended user " + id}
	switch u.Status {
	case StatusSuspended, StatusDeprovisioned:
		pl.already = true
		return pl, nil
	case StatusActive:
	default:
		return plan{}, p.errorf(playbook.ActionDisableUser, playbook.ErrConflict,
			"user %s is %s: Okta suspends only ACTIVE users; contain it another way (deactivate-user, revoke-sessions)", id, u.Status)
	}
	pl.apply = func(ctx context.Context) (bool, error) {
		err := p.send(ctx, http.MethodPost, "POST /api/v1/users/{id}/lifecycle/suspend", userPath(id)+"/lifecycle/suspend", nil, ScopeUsersManage, nil)
		if err != nil && hasCode(err, CodeAPIValidation) {
			// Suspended by someone else in the meantime?
			if u, gerr := p.c.GetUser(ctx, id); gerr == nil && (u.Status == StatusSuspended || u.Status == StatusDeprovisioned) {
				return true, nil
			}
		}
		return false, err
	}
	return pl, nil
}

func undoSuspend(ctx context.Context, p *Provider, req playbook.ActionRequest, prior json.RawMessage) (playbook.ActionResult, error) {
	var pr statusPrior
	if err := json.Unmarshal(prior, &pr); err != nil {
		return playbook.ActionResult{}, p.errorf("undo disable-user", playbook.ErrInvalidRequest, "Prior is not a disable-user prior state: %v", err)
	}
	id := req.Subject.ID
	u, err := p.c.GetUser(ctx, id)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if pr.Status != StatusActive || u.Status != StatusSuspended {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Prior: prior,
			Detail: fmt.Sprintf("user %s is %s, nothing to unsuspend (was %s)", id, u.Status, pr.Status)}, nil
	}
	if err := p.send(ctx, http.MethodPost, "POST /api/v1/users/{id}/lifecycle/unsuspend", userPath(id)+"/lifecycle/unsuspend", nil, ScopeUsersManage, nil); err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Detail: "unsuspended user " + id, Prior: prior}, nil
}

// --- deactivate-user ---

func inspectDeactivate(ctx context.Context, p *Provider, req playbook.ActionRequest) (plan, error) {
	id := req.Subject.ID
	u, err := p.c.GetUser(ctx, id)
	if err != nil {
		return plan{}, err
	}
	pl := plan{prior: statusPrior{Status: u.Status}, already: u.Status == StatusDeprovisioned,
		alreadyMsg: "user " + id + " is already deactivated",
		wouldMsg:   "would deactivate user " + id, doneMsg: "deactivated user " + id}
	pl.apply = func(ctx context.Context) (bool, error) {
		return false, p.send(ctx, http.MethodPost, "POST /api/v1/users/{id}/lifecycle/deactivate", userPath(id)+"/lifecycle/deactivate",
			url.Values{"sendEmail": {"false"}}, ScopeUsersManage, nil)
	}
	return pl, nil
}

func undoDeactivate(ctx context.Context, p *Provider, req playbook.ActionRequest, prior json.RawMessage) (playbook.ActionResult, error) {
	var pr statusPrior
	if err := json.Unmarshal(prior, &pr); err != nil {
		return playbook.ActionResult{}, p.errorf("undo deactivate-user", playbook.ErrInvalidRequest, "Prior is not a deactivate-user prior state: %v", err)
	}
	id := req.Subject.ID
	u, err := p.c.GetUser(ctx, id)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if pr.Status == StatusDeprovisioned || u.Status != StatusDeprovisioned {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Prior: prior,
			Detail: fmt.Sprintf("user %s is %s, nothing to activate (was %s)", id, u.Status, pr.Status)}, nil
	}
	err = p.send(ctx, http.MethodPost, "POST /api/v1/users/{id}/lifecycle/activate", userPath(id)+"/lifecycle/activate",
		url.Values{"sendEmail": {"false"}}, ScopeUsersManage, nil)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Detail: "activated user " + id + " (prior status " + pr.Status + ")", Prior: prior}, nil
}

// --- revoke-sessions ---

type sessionsPrior struct {
	LastSessionStart time.Time `json:"last_session_start,omitzero"`
	LastClear        time.Time `json:"last_clear,omitzero"`
	OAuthTokens      bool      `json:"oauth_tokens"`
}

// lastEvent returns the time of the newest event of type about user (as
// actor or target), or zero.
func (p *Provider) lastEvent(ctx context.Context, eventType, field, user string) (time.Time, error) {
	evs, err := p.c.Logs(ctx, LogQuery{
		Filter: "eventType eq " + scimQuote(eventType) + " and " + field + " eq " + scimQuote(user),
		// A bounded query (since and until) may sort newest first; until
		// is a little ahead to tolerate clock skew with the org.
		Since: time.Now().Add(-90 * 24 * time.Hour), Until: time.Now().Add(time.Minute),
		Descending: true, Limit: 1,
	})
	if err != nil || len(evs) == 0 {
		return time.Time{}, err
	}
	return evs[0].Published, nil
}

func inspectSessions(ctx context.Context, p *Provider, req playbook.ActionRequest) (plan, error) {
	id := req.Subject.ID
	if _, err := p.c.GetUser(ctx, id); err != nil {
		return plan{}, err
	}
	revoke := p.revokeOAuth
	switch v := strings.ToLower(strings.TrimSpace(req.Params[ParamOAuthTokens])); v {
	case "":
	case "true", "false":
		revoke = v == "true"
	default:
		return plan{}, p.errorf(playbook.ActionRevokeSessions, playbook.ErrInvalidRequest, "Params[%q] is %q, want \"true\" or \"false\"", ParamOAuthTokens, v)
	}
	pr := sessionsPrior{OAuthTokens: revoke}
	start, err1 := p.lastEvent(ctx, EventSessionStart, "actor.id", id)
	clear, err2 := p.lastEvent(ctx, EventSessionClear, "target.id", id)
	pl := plan{prior: &pr,
		alreadyMsg: "user " + id + " has started no session since their sessions were last cleared",
		wouldMsg:   "would clear the sessions of user " + id, doneMsg: "cleared the sessions of user " + id}
	if err := errors.Join(err1, err2); err != nil {
		if ctx.Err() != nil {
			return plan{}, ctx.Err()
		}
		// Without the System Log the state is unknown; clearing is safe
		// to repeat.
		pl.wouldMsg += " (session state unknown: " + err.Error() + ")"
	} else {
		pr.LastSessionStart, pr.LastClear = start.UTC(), clear.UTC()
		pl.already = !clear.IsZero() && clear.After(start)
	}
	if revoke {
		pl.wouldMsg += " and revoke their OAuth tokens"
		pl.doneMsg += " and revoked their OAuth tokens"
	}
	pl.apply = func(ctx context.Context) (bool, error) {
		return false, p.send(ctx, http.MethodDelete, "DELETE /api/v1/users/{id}/sessions", userPath(id)+"/sessions",
			url.Values{"oauthTokens": {fmt.Sprint(revoke)}}, ScopeUsersManage, nil)
	}
	return pl, nil
}

// --- reset-credentials ---

func inspectCredentials(ctx context.Context, p *Provider, req playbook.ActionRequest) (plan, error) {
	id := req.Subject.ID
	mode := strings.ToLower(strings.TrimSpace(req.Params[ParamMode]))
	if mode == "" {
		mode = "expire"
	}
	send := strings.ToLower(strings.TrimSpace(req.Params[ParamSendEmail]))
	if send == "" {
		send = "true"
	}
	if mode != "expire" && mode != "reset" {
		return plan{}, p.errorf(playbook.ActionResetCredentials, playbook.ErrInvalidRequest, "Params[%q] is %q, want \"expire\" or \"reset\"", ParamMode, mode)
	}
	if send != "true" && send != "false" {
		return plan{}, p.errorf(playbook.ActionResetCredentials, playbook.ErrInvalidRequest, "Params[%q] is %q, want \"true\" or \"false\"", ParamSendEmail, send)
	}
	u, err := p.c.GetUser(ctx, id)
	if err != nil {
		return plan{}, err
	}
	pl := plan{prior: statusPrior{Status: u.Status}}
	if mode == "expire" {
		pl.already = u.Status == StatusPasswordExpired
		pl.alreadyMsg = "the password of user " + id + " is already expired"
		pl.wouldMsg, pl.doneMsg = "would expire the password of user "+id, "expired the password of user "+id
		pl.apply = func(ctx context.Context) (bool, error) {
			return false, p.send(ctx, http.MethodPost, "POST /api/v1/users/{id}/lifecycle/expire_password", userPath(id)+"/lifecycle/expire_password", nil, ScopeUsersManage, nil)
		}
		return pl, nil
	}
	pl.already = u.Status == StatusRecovery
	pl.alreadyMsg = "user " + id + " is already in password recovery"
	pl.wouldMsg, pl.doneMsg = "would reset the password of user "+id, "reset the password of user "+id
	pl.apply = func(ctx context.Context) (bool, error) {
		return false, p.send(ctx, http.MethodPost, "POST /api/v1/users/{id}/lifecycle/reset_password", userPath(id)+"/lifecycle/reset_password",
			url.Values{"sendEmail": {send}, "revokeSessions": {"false"}}, ScopeUsersManage, nil)
	}
	return pl, nil
}

// --- remove-role ---

type rolePrior struct {
	Role        string           `json:"role"`
	Assignments []RoleAssignment `json:"assignments"`
}

func matchRole(r RoleAssignment, ref string) bool {
	return r.ID == ref || strings.EqualFold(r.Type, ref) || (r.Label != "" && strings.EqualFold(r.Label, ref))
}

func inspectRole(ctx context.Context, p *Provider, req playbook.ActionRequest) (plan, error) {
	id := req.Subject.ID
	ref := strings.TrimSpace(req.Params[ParamRole])
	if ref == "" {
		return plan{}, p.errorf(playbook.ActionRemoveRole, playbook.ErrInvalidRequest, "Params[%q] is required", ParamRole)
	}
	rs, err := p.c.UserRoles(ctx, id)
	if err != nil {
		return plan{}, err
	}
	var direct []RoleAssignment
	viaGroup := false
	for _, r := range rs {
		if !matchRole(r, ref) {
			continue
		}
		if strings.EqualFold(r.AssignmentType, "GROUP") {
			viaGroup = true
			continue
		}
		direct = append(direct, r)
	}
	if len(direct) == 0 && viaGroup {
		return plan{}, p.errorf(playbook.ActionRemoveRole, playbook.ErrConflict,
			"user %s holds role %s through a group assignment; remove the group membership instead", id, ref)
	}
	pl := plan{prior: rolePrior{Role: ref, Assignments: direct}, already: len(direct) == 0,
		alreadyMsg: "user " + id + " does not hold role " + ref,
		wouldMsg:   "would remove role " + ref + " from user " + id, doneMsg: "removed role " + ref + " from user " + id}
	pl.apply = func(ctx context.Context) (bool, error) {
		gone := 0
		for _, r := range direct {
			err := p.send(ctx, http.MethodDelete, "DELETE /api/v1/users/{id}/roles/{roleId}", userPath(id)+"/roles/"+esc(r.ID), nil, ScopeRolesManage, nil)
			if isNotFound(err) {
				gone++
				continue
			}
			if err != nil {
				return false, err
			}
		}
		return gone == len(direct), nil
	}
	return pl, nil
}

func undoRole(ctx context.Context, p *Provider, req playbook.ActionRequest, prior json.RawMessage) (playbook.ActionResult, error) {
	var pr rolePrior
	if err := json.Unmarshal(prior, &pr); err != nil {
		return playbook.ActionResult{}, p.errorf("undo remove-role", playbook.ErrInvalidRequest, "Prior is not a remove-role prior state: %v", err)
	}
	id := req.Subject.ID
	held, err := p.c.UserRoles(ctx, id)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	var restored []string
	for _, a := range pr.Assignments {
		if a.Type == "" {
			return playbook.ActionResult{}, p.errorf("undo remove-role", playbook.ErrInvalidRequest, "Prior holds an assignment without a role type")
		}
		if slices.ContainsFunc(held, func(h RoleAssignment) bool {
			return strings.EqualFold(h.Type, a.Type) && h.Role == a.Role && h.ResourceSet == a.ResourceSet && !strings.EqualFold(h.AssignmentType, "GROUP")
		}) {
			continue
		}
		body := map[string]string{"type": a.Type}
		if a.Role != "" {
			body["role"] = a.Role
		}
		if a.ResourceSet != "" {
			body["resource-set"] = a.ResourceSet
		}
		if err := p.send(ctx, http.MethodPost, "POST /api/v1/users/{id}/roles", userPath(id)+"/roles", nil, ScopeRolesManage, body); err != nil {
			return playbook.ActionResult{}, err
		}
		restored = append(restored, a.Type)
	}
	if len(restored) == 0 {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Prior: prior, Detail: "user " + id + " already holds the prior assignments of role " + pr.Role}, nil
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Prior: prior, Detail: "assigned " + strings.Join(restored, ", ") + " to user " + id + " again"}, nil
}

// --- remove-group-member ---

type groupPrior struct {
	GroupID   string `json:"group_id"`
	GroupName string `json:"group_name"`
	Member    bool   `json:"member"`
}

func inspectGroup(ctx context.Context, p *Provider, req playbook.ActionRequest) (plan, error) {
	id := req.Subject.ID
	ref := strings.TrimSpace(req.Params[ParamGroup])
	if ref == "" {
		return plan{}, p.errorf(playbook.ActionRemoveGroupMember, playbook.ErrInvalidRequest, "Params[%q] is required", ParamGroup)
	}
	if _, err := p.c.GetUser(ctx, id); err != nil {
		return plan{}, err
	}
	g, ok, err := p.c.FindGroup(ctx, ref)
	if err != nil {
		return plan{}, err
	}
	if !ok {
		return plan{}, p.errorf(playbook.ActionRemoveGroupMember, playbook.ErrNotFound, "group %q does not exist", ref)
	}
	if g.Type != "" && g.Type != "OKTA_GROUP" {
		return plan{}, p.errorf(playbook.ActionRemoveGroupMember, playbook.ErrUnsupported,
			"group %s is an %s group, whose members are managed by its source, not through the API", g.Profile.Name, g.Type)
	}
	gs, err := p.c.UserGroups(ctx, id)
	if err != nil {
		return plan{}, err
	}
	member := slices.ContainsFunc(gs, func(x Group) bool { return x.ID == g.ID })
	name := g.Profile.Name
	pl := plan{prior: groupPrior{GroupID: g.ID, GroupName: name, Member: member}, already: !member,
		alreadyMsg: "user " + id + " is not a member of group " + name,
		wouldMsg:   "would remove user " + id + " from group " + name, doneMsg: "removed user " + id + " from group " + name}
	pl.apply = func(ctx context.Context) (bool, error) {
		err := p.send(ctx, http.MethodDelete, "DELETE /api/v1/groups/{groupId}/users/{userId}", "/api/v1/groups/"+esc(g.ID)+"/users/"+esc(id), nil, ScopeGroupsManage, nil)
		if isNotFound(err) {
			return true, nil
		}
		return false, err
	}
	return pl, nil
}

func undoGroup(ctx context.Context, p *Provider, req playbook.ActionRequest, prior json.RawMessage) (playbook.ActionResult, error) {
	var pr groupPrior
	if err := json.Unmarshal(prior, &pr); err != nil || pr.GroupID == "" {
		return playbook.ActionResult{}, p.errorf("undo remove-group-member", playbook.ErrInvalidRequest, "Prior is not a remove-group-member prior state")
	}
	id := req.Subject.ID
	gs, err := p.c.UserGroups(ctx, id)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if !pr.Member || slices.ContainsFunc(gs, func(x Group) bool { return x.ID == pr.GroupID }) {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Prior: prior, Detail: "user " + id + " is already in its prior membership of group " + pr.GroupName}, nil
	}
	if err := p.send(ctx, http.MethodPut, "PUT /api/v1/groups/{groupId}/users/{userId}", "/api/v1/groups/"+esc(pr.GroupID)+"/users/"+esc(id), nil, ScopeGroupsManage, nil); err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Prior: prior, Detail: "added user " + id + " back to group " + pr.GroupName}, nil
}

// --- confirm-compromised ---

type riskPrior struct {
	RiskLevel string `json:"risk_level"`
}

func inspectRisk(ctx context.Context, p *Provider, req playbook.ActionRequest) (plan, error) {
	id := req.Subject.ID
	lvl, err := p.c.UserRisk(ctx, id)
	if err != nil {
		return plan{}, err
	}
	pl := plan{prior: riskPrior{RiskLevel: lvl}, already: strings.EqualFold(lvl, "HIGH"),
		alreadyMsg: "the risk of user " + id + " is already HIGH",
		wouldMsg:   "would set the risk of user " + id + " to HIGH", doneMsg: "set the risk of user " + id + " to HIGH"}
	pl.apply = func(ctx context.Context) (bool, error) {
		return false, p.send(ctx, http.MethodPut, "PUT /api/v1/users/{id}/risk", userPath(id)+"/risk", nil, ScopeUserRiskWrite, map[string]string{"riskLevel": "HIGH"})
	}
	return pl, nil
}

func undoRisk(ctx context.Context, p *Provider, req playbook.ActionRequest, prior json.RawMessage) (playbook.ActionResult, error) {
	var pr riskPrior
	if err := json.Unmarshal(prior, &pr); err != nil {
		return playbook.ActionResult{}, p.errorf("undo confirm-compromised", playbook.ErrInvalidRequest, "Prior is not a confirm-compromised prior state: %v", err)
	}
	id := req.Subject.ID
	lvl, err := p.c.UserRisk(ctx, id)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	if strings.EqualFold(pr.RiskLevel, "HIGH") || !strings.EqualFold(lvl, "HIGH") {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Prior: prior, Detail: "the risk of user " + id + " is " + lvl + ", nothing to undo"}, nil
	}
	if err := p.send(ctx, http.MethodPut, "PUT /api/v1/users/{id}/risk", userPath(id)+"/risk", nil, ScopeUserRiskWrite, map[string]string{"riskLevel": "LOW"}); err != nil {
		return playbook.ActionResult{}, err
	}
	return playbook.ActionResult{Status: playbook.StatusUndone, Prior: prior, Detail: "set the risk of user " + id + " to LOW (it was " + pr.RiskLevel + ")"}, nil
}

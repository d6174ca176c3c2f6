package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Action parameter names.
const (
	// ParamRole names the role remove-role removes: a role ID, Name or
	// Template, or an assignment ID.
	ParamRole = "role"
	// ParamGroup names the group remove-group-member removes the subject
	// from: a group ID or Name.
	ParamGroup = "group"
)

// actionNames lists the actions a Provider implements, in a stable order.
var actionNames = []string{
	playbook.ActionDisableUser,
	playbook.ActionRevokeSessions,
	playbook.ActionResetCredentials,
	playbook.ActionRemoveRole,
	playbook.ActionRemoveGroupMember,
	playbook.ActionConfirmCompromised,
}

// ActionNames returns the names of the actions a Provider implements.
func ActionNames() []string { return slices.Clone(actionNames) }

// Actions returns the provider's containment actions by their well-known
// names (a fresh map each call):
//
//   - disable-user sets User.Disabled. Undo re-enables.
//   - revoke-sessions deletes every session. No undo: sessions cannot be
//     restored.
//   - reset-credentials increments User.CredentialVersion and sets
//     MustResetPassword; already applied while MustResetPassword is set.
//     No undo.
//   - remove-role removes every assignment Params["role"] names (see
//     ParamRole). Undo restores the same assignments, ids included.
//   - remove-group-member removes the membership of Params["group"]. Undo
//     adds it back.
//   - confirm-compromised sets Compromised and RiskHigh. Undo dismisses:
//     clears Compromised and restores the prior risk.
//
// Every action implements playbook.Planner, and the reversible ones
// playbook.Undoer. Actions are safe for concurrent use and idempotent: an
// account already in the desired state reports StatusAlreadyApplied, and a
// request whose IdempotencyKey was applied before reports
// StatusAlreadyApplied with the original result's Prior, without touching
// the account (the same key reused for another action or subject is an
// ErrConflict). Undo remembers its own keys separately. Result.Prior holds
// the account's prior state as JSON.
//
// Errors are *playbook.ProviderError: an unknown user wraps ErrNotFound, a
// missing or unknown role or group parameter ErrInvalidRequest or
// ErrNotFound, a subject of another provider ErrInvalidRequest, and
// injected faults whatever was injected. A context that ends before the
// change returns ctx.Err() and changes nothing; the change itself is
// atomic.
func (p *Provider) Actions() map[string]playbook.Action { return maps.Clone(p.actions) }

// Action returns the action named name and whether the provider has it.
func (p *Provider) Action(name string) (playbook.Action, bool) {
	a, ok := p.actions[name]
	return a, ok
}

func (p *Provider) newActions() map[string]playbook.Action {
	m := make(map[string]playbook.Action, len(actionNames))
	for _, name := range actionNames {
		a := &action{p: p, name: name, planOp: PlanOp(name), undoOp: UndoOp(name)}
		switch name {
		case playbook.ActionRevokeSessions, playbook.ActionResetCredentials:
			m[name] = a
		default:
			m[name] = &undoableAction{a}
		}
	}
	return m
}

type keyRecord struct {
	op      string
	subject string
	result  playbook.ActionResult
}

type mode int

const (
	modeExecute mode = iota
	modePlan
	modeUndo
)

type action struct {
	p              *Provider
	name           string
	planOp, undoOp string
}

// Name returns the action's well-known name.
func (a *action) Name() string { return a.name }

// Execute applies the action; see Provider.Actions.
func (a *action) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	return a.p.do(ctx, a, modeExecute, a.name, req, nil)
}

// Plan reports what Execute would do without changing anything.
func (a *action) Plan(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	return a.p.do(ctx, a, modePlan, a.planOp, req, nil)
}

type undoableAction struct{ *action }

// Undo restores the state recorded in done.Prior; see Provider.Actions.
func (a *undoableAction) Undo(ctx context.Context, req playbook.ActionRequest, done playbook.ActionResult) (playbook.ActionResult, error) {
	return a.p.do(ctx, a.action, modeUndo, a.undoOp, req, done.Prior)
}

var (
	_ playbook.Planner = (*action)(nil)
	_ playbook.Undoer  = (*undoableAction)(nil)
)

func (p *Provider) do(ctx context.Context, a *action, m mode, op string, req playbook.ActionRequest, prior json.RawMessage) (res playbook.ActionResult, err error) {
	call := Call{Op: op, Subject: req.Subject, Params: req.Params, IdempotencyKey: req.IdempotencyKey, Attempt: req.Attempt}
	if err = p.checkSubject(op, req.Subject); err == nil {
		if err = ctx.Err(); err == nil {
			err = p.inject(ctx, op)
		}
	}
	if err != nil {
		call.Err = err
		p.record(call)
		return playbook.ActionResult{}, err
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	var wrote bool
	defer func() {
		call.Status, call.Write, call.Err = res.Status, wrote, err
		p.recordLocked(call)
	}()

	key := ""
	if m != modePlan && req.IdempotencyKey != "" {
		key = req.IdempotencyKey
		if m == modeUndo {
			key = "undo\x00" + key
		}
		if rec, ok := p.keys[key]; ok {
			if rec.op != op || rec.subject != req.Subject.ID {
				return playbook.ActionResult{}, p.errorf(op, http.StatusConflict, "IdempotencyKeyReused", playbook.ErrConflict,
					"idempotency key %q was used for %s on user %q, not %s on user %q", req.IdempotencyKey, rec.op, rec.subject, op, req.Subject.ID)
			}
			res = rec.result
			res.Status = playbook.StatusAlreadyApplied
			res.Detail = fmt.Sprintf("idempotency key %q already applied: %s", req.IdempotencyKey, rec.result.Detail)
			return res, nil
		}
	}
	st, ok := p.users[req.Subject.ID]
	if !ok {
		return playbook.ActionResult{}, p.errorf(op, http.StatusNotFound, "UserNotFound", playbook.ErrNotFound, "user %q does not exist", req.Subject.ID)
	}
	if m == modeUndo {
		res, wrote, err = p.undoLocked(a.name, op, st, prior)
	} else {
		res, wrote, err = p.applyLocked(a.name, op, st, req.Params, m == modeExecute)
	}
	if err == nil && key != "" {
		p.keys[key] = keyRecord{op: op, subject: req.Subject.ID, result: res}
	}
	return res, err
}

// checkSubject refuses requests without a subject or meant for another
// provider.
func (p *Provider) checkSubject(op string, s playbook.Subject) error {
	if strings.TrimSpace(s.ID) == "" {
		return p.errorf(op, http.StatusBadRequest, "NoSubject", playbook.ErrInvalidRequest, "the request names no subject (Subject.ID is empty)")
	}
	if s.Provider != "" && s.Provider != p.name {
		return p.errorf(op, http.StatusBadRequest, "WrongProvider", playbook.ErrInvalidRequest,
			"subject %q belongs to provider %q, not %q", s.ID, s.Provider, p.name)
	}
	return nil
}

func (p *Provider) errorf(op string, status int, code string, err error, format string, args ...any) error {
	return &playbook.ProviderError{Provider: p.name, Op: op, Status: status, Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

type disablePrior struct {
	Enabled bool `json:"enabled"`
}

type sessionsPrior struct {
	Sessions []string `json:"sessions"`
}

type credentialsPrior struct {
	CredentialVersion int  `json:"credential_version"`
	MustResetPassword bool `json:"must_reset_password"`
}

type rolePrior struct {
	Role        string       `json:"role"`
	Assignments []Assignment `json:"assignments"`
}

type groupPrior struct {
	Group  GroupDef `json:"group"`
	Member bool     `json:"member"`
}

type compromisedPrior struct {
	Compromised bool               `json:"compromised"`
	Risk        playbook.RiskLevel `json:"risk"`
}

// outcome builds the result of an action that is already in effect
// (already), would be applied (dry run) or was applied.
func outcome(already, write bool, prior any, alreadyMsg, wouldMsg, doneMsg string) (playbook.ActionResult, error) {
	raw, err := json.Marshal(prior)
	if err != nil {
		return playbook.ActionResult{}, fmt.Errorf("fake: encoding prior state: %w", err)
	}
	switch {
	case already:
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: alreadyMsg, Prior: raw}, nil
	case !write:
		return playbook.ActionResult{Status: playbook.StatusDryRun, Detail: wouldMsg, Prior: raw}, nil
	}
	return playbook.ActionResult{Status: playbook.StatusApplied, Detail: doneMsg, Prior: raw}, nil
}

// applyLocked executes (write) or plans (!write) action name on st.
func (p *Provider) applyLocked(name, op string, st *userState, params map[string]string, write bool) (res playbook.ActionResult, wrote bool, err error) {
	u := &st.user
	id := u.ID
	switch name {
	case playbook.ActionDisableUser:
		already := u.Disabled
		res, err = outcome(already, write, disablePrior{Enabled: !u.Disabled},
			"user "+id+" is already disabled", "would disable user "+id, "disabled user "+id)
		if err == nil && !already && write {
			u.Disabled, wrote = true, true
		}

	case playbook.ActionRevokeSessions:
		ids := make([]string, len(st.sessions))
		for i, s := range st.sessions {
			ids[i] = s.ID
		}
		already := len(ids) == 0
		res, err = outcome(already, write, sessionsPrior{Sessions: ids},
			"user "+id+" has no active sessions",
			fmt.Sprintf("would revoke %d sessions of user %s", len(ids), id),
			fmt.Sprintf("revoked %d sessions of user %s", len(ids), id))
		if err == nil && !already && write {
			st.sessions, wrote = nil, true
		}

	case playbook.ActionResetCredentials:
		already := u.MustResetPassword
		res, err = outcome(already, write, credentialsPrior{CredentialVersion: u.CredentialVersion, MustResetPassword: u.MustResetPassword},
			"the password of user "+id+" is already expired",
			"would reset the credentials of user "+id, "reset the credentials of user "+id)
		if err == nil && !already && write {
			u.CredentialVersion++
			u.MustResetPassword, wrote = true, true
		}

	case playbook.ActionRemoveRole:
		ref := strings.TrimSpace(params[ParamRole])
		if ref == "" {
			return res, false, p.errorf(op, http.StatusBadRequest, "MissingParameter", playbook.ErrInvalidRequest, "Params[%q] is required", ParamRole)
		}
		var held []Assignment
		for _, a := range st.assignments {
			if matchAssignment(a, ref) {
				held = append(held, a)
			}
		}
		if len(held) == 0 {
			if _, ok := p.findRoleLocked(ref); !ok && !p.issued[ref] {
				return res, false, p.errorf(op, http.StatusNotFound, "RoleNotFound", playbook.ErrNotFound, "role %q is not defined", ref)
			}
		}
		already := len(held) == 0
		res, err = outcome(already, write, rolePrior{Role: ref, Assignments: held},
			"user "+id+" does not hold role "+ref,
			"would remove role "+ref+" from user "+id, "removed role "+ref+" from user "+id)
		if err == nil && !already && write {
			st.assignments = slices.DeleteFunc(st.assignments, func(a Assignment) bool { return matchAssignment(a, ref) })
			wrote = true
		}

	case playbook.ActionRemoveGroupMember:
		ref := strings.TrimSpace(params[ParamGroup])
		if ref == "" {
			return res, false, p.errorf(op, http.StatusBadRequest, "MissingParameter", playbook.ErrInvalidRequest, "Params[%q] is required", ParamGroup)
		}
		g, ok := p.findGroupLocked(ref)
		if !ok {
			return res, false, p.errorf(op, http.StatusNotFound, "GroupNotFound", playbook.ErrNotFound, "group %q is not defined", ref)
		}
		member := slices.Contains(st.groups, g.ID)
		res, err = outcome(!member, write, groupPrior{Group: g, Member: member},
			"user "+id+" is not a member of group "+g.Name,
			"would remove user "+id+" from group "+g.Name, "removed user "+id+" from group "+g.Name)
		if err == nil && member && write {
			st.groups = slices.DeleteFunc(st.groups, func(gid string) bool { return gid == g.ID })
			wrote = true
		}

	case playbook.ActionConfirmCompromised:
		already := u.Compromised
		res, err = outcome(already, write, compromisedPrior{Compromised: u.Compromised, Risk: u.Risk},
			"user "+id+" is already confirmed compromised",
			"would confirm user "+id+" compromised", "confirmed user "+id+" compromised")
		if err == nil && !already && write {
			u.Compromised, u.Risk, wrote = true, playbook.RiskHigh, true
		}

	default:
		return res, false, p.errorf(op, http.StatusNotImplemented, "UnknownAction", playbook.ErrUnsupported, "unknown action %q", name)
	}
	return res, wrote, err
}

// undoLocked restores the prior state an action recorded.
func (p *Provider) undoLocked(name, op string, st *userState, prior json.RawMessage) (res playbook.ActionResult, wrote bool, err error) {
	if len(prior) == 0 {
		return res, false, p.errorf(op, http.StatusBadRequest, "NoPriorState", playbook.ErrInvalidRequest,
			"the result to undo carries no Prior state")
	}
	decode := func(v any) error {
		if err := json.Unmarshal(prior, v); err != nil {
			return p.errorf(op, http.StatusBadRequest, "BadPriorState", playbook.ErrInvalidRequest, "the result's Prior is not a %s prior state: %v", name, err)
		}
		return nil
	}
	u := &st.user
	id := u.ID
	undone := func(detail string) playbook.ActionResult {
		return playbook.ActionResult{Status: playbook.StatusUndone, Detail: detail, Prior: prior}
	}
	nothing := func(detail string) playbook.ActionResult {
		return playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: detail, Prior: prior}
	}
	switch name {
	case playbook.ActionDisableUser:
		var pr disablePrior
		if err := decode(&pr); err != nil {
			return res, false, err
		}
		if !pr.Enabled || !u.Disabled {
			return nothing("user " + id + " is already in its prior enabled state"), false, nil
		}
		u.Disabled = false
		return undone("re-enabled user " + id), true, nil

	case playbook.ActionRemoveRole:
		var pr rolePrior
		if err := decode(&pr); err != nil {
			return res, false, err
		}
		var restored []string
		for _, a := range pr.Assignments {
			if a.ID == "" || a.Role.ID == "" {
				return res, false, p.errorf(op, http.StatusBadRequest, "BadPriorState", playbook.ErrInvalidRequest, "the result's Prior holds an assignment without an id or role")
			}
			if slices.ContainsFunc(st.assignments, func(x Assignment) bool { return x.ID == a.ID }) {
				continue
			}
			if a.Scope == "" {
				a.Scope = "/"
			}
			st.assignments = append(st.assignments, a)
			restored = append(restored, a.ID)
		}
		if len(restored) == 0 {
			return nothing("user " + id + " already holds the prior assignments of role " + pr.Role), false, nil
		}
		return undone("restored role " + pr.Role + " to user " + id + " (assignments " + strings.Join(restored, ", ") + ")"), true, nil

	case playbook.ActionRemoveGroupMember:
		var pr groupPrior
		if err := decode(&pr); err != nil {
			return res, false, err
		}
		if !pr.Member || slices.Contains(st.groups, pr.Group.ID) {
			return nothing("user " + id + " is already in its prior membership of group " + pr.Group.Name), false, nil
		}
		if _, ok := p.groups[pr.Group.ID]; !ok {
			return res, false, p.errorf(op, http.StatusNotFound, "GroupNotFound", playbook.ErrNotFound, "group %q no longer exists", pr.Group.ID)
		}
		st.groups = append(st.groups, pr.Group.ID)
		return undone("added user " + id + " back to group " + pr.Group.Name), true, nil

	case playbook.ActionConfirmCompromised:
		var pr compromisedPrior
		if err := decode(&pr); err != nil {
			return res, false, err
		}
		if pr.Compromised || !u.Compromised {
			return nothing("user " + id + " is already in its prior compromise state"), false, nil
		}
		u.Compromised, u.Risk = false, pr.Risk
		return undone("dismissed the compromise of user " + id), true, nil
	}
	return res, false, p.errorf(op, http.StatusNotImplemented, "NoUndo", playbook.ErrUnsupported, "action %q cannot be undone", name)
}

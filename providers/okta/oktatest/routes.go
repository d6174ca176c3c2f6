package oktatest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/providers/okta"
)

// Ops of the emulated endpoints, for InjectError, InjectThrottle,
// SetRateLimit and CountRequests.
const (
	OpGetUser       = "GET /api/v1/users/{id}"
	OpLifecycle     = "POST /api/v1/users/{id}/lifecycle/" // + suspend, unsuspend, ...
	OpSuspend       = "POST /api/v1/users/{id}/lifecycle/suspend"
	OpUnsuspend     = "POST /api/v1/users/{id}/lifecycle/unsuspend"
	OpClearSessions = "DELETE /api/v1/users/{id}/sessions"
	OpListRoles     = "GET /api/v1/users/{id}/roles"
	OpAssignRole    = "POST /api/v1/users/{id}/roles"
	OpUnassignRole  = "DELETE /api/v1/users/{id}/roles/{roleId}"
	OpUserGroups    = "GET /api/v1/users/{id}/groups"
	OpGetRisk       = "GET /api/v1/users/{id}/risk"
	OpPutRisk       = "PUT /api/v1/users/{id}/risk"
	OpListGroups    = "GET /api/v1/groups"
	OpGetGroup      = "GET /api/v1/groups/{id}"
	OpAddMember     = "PUT /api/v1/groups/{groupId}/users/{userId}"
	OpRemoveMember  = "DELETE /api/v1/groups/{groupId}/users/{userId}"
	OpLogs          = "GET /api/v1/logs"
	OpToken         = "POST /oauth2/v1/token"
)

var lifecycleOps = []string{"suspend", "unsuspend", "activate", "deactivate", "expire_password", "reset_password"}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (status int, write bool)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(op, scope string, h handlerFunc) { mux.Handle(op, s.wrap(op, scope, h)) }
	add(OpGetUser, okta.ScopeUsersRead, s.getUser)
	for _, l := range lifecycleOps {
		add(OpLifecycle+l, okta.ScopeUsersManage, s.lifecycle(l))
	}
	add(OpClearSessions, okta.ScopeUsersManage, s.clearSessions)
	add(OpListRoles, okta.ScopeRolesRead, s.listRoles)
	add(OpAssignRole, okta.ScopeRolesManage, s.assignRole)
	add(OpUnassignRole, okta.ScopeRolesManage, s.unassignRole)
	add(OpUserGroups, okta.ScopeGroupsRead, s.userGroups)
	add(OpGetRisk, okta.ScopeUserRiskRead, s.getRisk)
	add(OpPutRisk, okta.ScopeUserRiskWrite, s.putRisk)
	add(OpListGroups, okta.ScopeGroupsRead, s.listGroups)
	add(OpGetGroup, okta.ScopeGroupsRead, s.getGroup)
	add(OpAddMember, okta.ScopeGroupsManage, s.membership(true))
	add(OpRemoveMember, okta.ScopeGroupsManage, s.membership(false))
	add(OpLogs, okta.ScopeLogsRead, s.getLogs)
	mux.Handle(OpToken, s.wrap(OpToken, "", s.token))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, okta.CodeNotFound, "Not found: Resource not found: "+r.URL.Path+" (Resource)")
	})
	return mux
}

// wrap adds what every endpoint does: authentication and scope checks,
// rate limiting with X-Rate-Limit-* headers, injected faults, and the
// request log.
func (s *Server) wrap(op, scope string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := Request{Op: op, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Time: time.Now()}
		status, write := s.serve(w, r, op, scope, h, &rec)
		s.mu.Lock()
		rec.Status = status
		s.requests = append(s.requests, rec)
		if write && status >= 200 && status < 300 {
			s.writes++
		}
		s.notifyLocked()
		s.mu.Unlock()
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, op, scope string, h handlerFunc, rec *Request) (int, bool) {
	if op != OpToken {
		scheme, ok := s.authenticate(r, scope)
		rec.Auth = scheme
		switch ok {
		case authMissing:
			return writeError(w, http.StatusUnauthorized, okta.CodeInvalidToken, "Invalid token provided"), false
		case authScope:
			w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+s.URL+`/oauth2/v1/authorize", realm="`+s.URL+`", scope="`+scope+`", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", resource="`+r.URL.Path+`"`)
			return writeError(w, http.StatusForbidden, okta.CodeNoPermission, "You do not have permission to perform the requested action"), false
		}
	}
	s.mu.Lock()
	now := time.Now()
	b := s.buckets[op]
	if b == nil || !now.Before(b.reset) {
		b = &bucket{reset: ceilSecond(now.Add(s.opts.RateWindow)), blocked: bucketBlocked(b)}
		s.buckets[op] = b
	}
	limit := s.opts.RateLimit
	if l, ok := s.limits[op]; ok {
		limit = l
	}
	var f *fault
	if i := slices.IndexFunc(s.faults, func(f fault) bool { return f.op == op }); i >= 0 {
		f = &s.faults[i]
		fc := *f
		f = &fc
		s.faults = slices.Delete(s.faults, i, i+1)
	}
	if f != nil && f.status == http.StatusTooManyRequests {
		b.blocked = ceilSecond(now.Add(f.retryAfter))
	}
	throttled := now.Before(b.blocked)
	if !throttled {
		b.count++
		throttled = b.count > limit
	}
	reset := b.reset
	if now.Before(b.blocked) {
		reset = b.blocked // a throttled bucket opens again at the block's end
	}
	remaining := max(limit-b.count, 0)
	if throttled {
		remaining = 0
	}
	s.mu.Unlock()
	w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if throttled {
		return writeError(w, http.StatusTooManyRequests, okta.CodeRateLimited, "API call exceeded rate limit due to too many requests."), false
	}
	if f != nil {
		summary := f.summary
		if summary == "" {
			summary = http.StatusText(f.status)
		}
		return writeError(w, f.status, f.code, summary), false
	}
	return h(w, r)
}

func bucketBlocked(old *bucket) time.Time {
	if old == nil {
		return time.Time{}
	}
	return old.blocked
}

type authResult int

const (
	authOK authResult = iota
	authMissing
	authScope
)

func (s *Server) authenticate(r *http.Request, scope string) (string, authResult) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch scheme {
	case "SSWS":
		if s.opts.APIToken != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(s.opts.APIToken)) == 1 {
			return scheme, authOK
		}
	case "Bearer":
		s.mu.Lock()
		defer s.mu.Unlock()
		for tok, at := range s.access {
			if subtle.ConstantTimeCompare([]byte(cred), []byte(tok)) == 1 {
				if !time.Now().Before(at.expires) {
					return scheme, authMissing
				}
				if scope != "" && !hasScope(at.scopes, scope) {
					return scheme, authScope
				}
				return scheme, authOK
			}
		}
	}
	return scheme, authMissing
}

// hasScope reports whether granted covers want; a manage scope covers the
// matching read scope.
func hasScope(granted []string, want string) bool {
	if slices.Contains(granted, want) {
		return true
	}
	if base, ok := strings.CutSuffix(want, ".read"); ok {
		return slices.Contains(granted, base+".manage")
	}
	return false
}

// writeError writes Okta's error body and returns status.
func writeError(w http.ResponseWriter, status int, code, summary string, causes ...string) int {
	body := okta.APIError{ErrorCode: code, ErrorSummary: summary, ErrorLink: code, ErrorID: "oae" + strconv.FormatInt(time.Now().UnixNano(), 36), ErrorCauses: []okta.ErrorCause{}}
	for _, c := range causes {
		body.ErrorCauses = append(body.ErrorCauses, okta.ErrorCause{ErrorSummary: c})
	}
	return writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

func notFound(w http.ResponseWriter, id, kind string) int {
	return writeError(w, http.StatusNotFound, okta.CodeNotFound, "Not found: Resource not found: "+id+" ("+kind+")")
}

// userLocked finds a user by id or login.
func (s *Server) userLocked(ref string) (*user, bool) {
	if u, ok := s.users[ref]; ok {
		return u, true
	}
	for _, u := range s.users {
		if strings.EqualFold(u.u.Profile.Login, ref) {
			return u, true
		}
	}
	return nil, false
}

// --- users ---

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) (int, bool) {
	s.mu.Lock()
	u, ok := s.userLocked(r.PathValue("id"))
	var cp okta.User
	if ok {
		cp = u.u
	}
	s.mu.Unlock()
	if !ok {
		return notFound(w, r.PathValue("id"), "User"), false
	}
	return writeJSON(w, http.StatusOK, cp), false
}

func (s *Server) lifecycle(op string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (int, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		u, ok := s.userLocked(r.PathValue("id"))
		if !ok {
			return notFound(w, r.PathValue("id"), "User"), false
		}
		st := u.u.Status
		bad := func(why string) (int, bool) {
			return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: "+op, why), false
		}
		set := func(status, eventType, msg string) {
			u.u.Status = status
			s.logLocked(s.adminEvent(eventType, msg, "admin@oktatest.invalid", userActor(u)))
		}
		switch op {
		case "suspend":
			if st != okta.StatusActive {
				return bad("Cannot suspend a user that is not active")
			}
			set(okta.StatusSuspended, "user.lifecycle.suspend", "Suspend Okta user")
		case "unsuspend":
			if st != okta.StatusSuspended {
				return bad("Cannot unsuspend a user that is not suspended")
			}
			set(okta.StatusActive, "user.lifecycle.unsuspend", "Unsuspend Okta user")
		case "deactivate":
			if st == okta.StatusDeprovisioned {
				return bad("Cannot deactivate a user that is already deprovisioned")
			}
			set(okta.StatusDeprovisioned, "user.lifecycle.deactivate", "Deactivate Okta user")
			u.sessions = nil
		case "activate":
			if st == okta.StatusActive {
				return writeError(w, http.StatusForbidden, okta.CodeAlreadyActive, "Activation failed because the user is already active"), false
			}
			if st != okta.StatusStaged && st != okta.StatusProvisioned && st != okta.StatusDeprovisioned {
				return writeError(w, http.StatusForbidden, okta.CodeStatusForbids, "This operation is not allowed in the user's current status."), false
			}
			set(okta.StatusActive, "user.lifecycle.activate", "Activate Okta user")
		case "expire_password":
			if st != okta.StatusActive && st != okta.StatusPasswordExpired && st != okta.StatusRecovery {
				return writeError(w, http.StatusForbidden, okta.CodeStatusForbids, "This operation is not allowed in the user's current status."), false
			}
			set(okta.StatusPasswordExpired, "user.password.expire", "User password expired by admin")
			return writeJSON(w, http.StatusOK, u.u), true
		case "reset_password":
			send := r.URL.Query().Get("sendEmail")
			if send != "true" && send != "false" {
				return writeError(w, http.StatusBadRequest, "E0000028", "The request is missing a required parameter.", "sendEmail: required"), false
			}
			if st == okta.StatusSuspended || st == okta.StatusDeprovisioned || st == okta.StatusStaged {
				return writeError(w, http.StatusForbidden, okta.CodeStatusForbids, "This operation is not allowed in the user's current status."), false
			}
			set(okta.StatusRecovery, "user.account.reset_password", "Reset Okta user password")
			if send == "false" {
				return writeJSON(w, http.StatusOK, map[string]string{"resetPasswordUrl": s.URL + "/reset_password/" + s.newID("drp")}), true
			}
		}
		return writeJSON(w, http.StatusOK, map[string]any{}), true
	}
}

func (s *Server) clearSessions(w http.ResponseWriter, r *http.Request) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userLocked(r.PathValue("id"))
	if !ok {
		return notFound(w, r.PathValue("id"), "User"), false
	}
	ev := s.adminEvent(okta.EventSessionClear, "Clear user sessions", "admin@oktatest.invalid", userActor(u))
	ev.Transaction = &okta.Transaction{Type: "WEB", ID: s.newID("txc")}
	s.logLocked(ev)
	for _, sid := range u.sessions {
		end := okta.LogEvent{EventType: "user.session.end", DisplayMessage: "User logout from Okta", Actor: userActor(u), Outcome: &okta.Outcome{Result: "SUCCESS"},
			Transaction: ev.Transaction, AuthenticationContext: &okta.AuthenticationContext{ExternalSessionID: sid}}
		s.logLocked(end)
	}
	u.sessions = nil
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent, true
}

// --- roles ---

var roleLabels = map[string]string{
	"SUPER_ADMIN": "Super Administrator", "ORG_ADMIN": "Organizational Administrator", "APP_ADMIN": "Application Administrator",
	"USER_ADMIN": "Group Administrator", "HELP_DESK_ADMIN": "Help Desk Administrator", "READ_ONLY_ADMIN": "Read Only Administrator",
	"MOBILE_ADMIN": "Mobile Administrator", "API_ACCESS_MANAGEMENT_ADMIN": "API Access Management Administrator",
	"REPORT_ADMIN": "Report Administrator", "GROUP_MEMBERSHIP_ADMIN": "Group Membership Administrator",
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request) (int, bool) {
	s.mu.Lock()
	u, ok := s.userLocked(r.PathValue("id"))
	var roles []okta.RoleAssignment
	if ok {
		roles = slices.Clone(u.roles)
	}
	s.mu.Unlock()
	if !ok {
		return notFound(w, r.PathValue("id"), "User"), false
	}
	if roles == nil {
		roles = []okta.RoleAssignment{}
	}
	return writeJSON(w, http.StatusOK, roles), false
}

func (s *Server) assignLocked(u *user, roleType, actor string) (okta.RoleAssignment, int, string) {
	label, ok := roleLabels[roleType]
	if !ok {
		return okta.RoleAssignment{}, http.StatusBadRequest, "Invalid role type: " + roleType
	}
	if slices.ContainsFunc(u.roles, func(r okta.RoleAssignment) bool { return r.Type == roleType }) {
		return okta.RoleAssignment{}, http.StatusConflict, "The role specified is already assigned to the user."
	}
	ra := okta.RoleAssignment{ID: s.newID("ra1"), Label: label, Type: roleType, Status: "ACTIVE", AssignmentType: "USER"}
	u.roles = append(u.roles, ra)
	var labels []string
	for _, r := range u.roles {
		labels = append(labels, r.Label)
	}
	ev := s.adminEvent(okta.EventPrivilegeGrant, "Grant user privilege", actor, userActor(u))
	ev.DebugContext = &okta.DebugContext{DebugData: map[string]json.RawMessage{"privilegeGranted": mustJSON(strings.Join(labels, ", "))}}
	s.logLocked(ev)
	return ra, http.StatusCreated, ""
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (s *Server) assignRole(w http.ResponseWriter, r *http.Request) (int, bool) {
	var body struct {
		Type string `json:"type"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || body.Type == "" {
		return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: type", "type: The role type is required."), false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userLocked(r.PathValue("id"))
	if !ok {
		return notFound(w, r.PathValue("id"), "User"), false
	}
	ra, st, why := s.assignLocked(u, body.Type, "admin@oktatest.invalid")
	switch st {
	case http.StatusCreated:
		return writeJSON(w, st, ra), true
	case http.StatusConflict:
		return writeError(w, st, "E0000090", "Duplicate role assignment exception.", why), false
	}
	return writeError(w, st, okta.CodeAPIValidation, "Api validation failed: type", why), false
}

func (s *Server) unassignRole(w http.ResponseWriter, r *http.Request) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userLocked(r.PathValue("id"))
	if !ok {
		return notFound(w, r.PathValue("id"), "User"), false
	}
	i := slices.IndexFunc(u.roles, func(ra okta.RoleAssignment) bool {
		return ra.ID == r.PathValue("roleId") && ra.AssignmentType != "GROUP"
	})
	if i < 0 {
		return notFound(w, r.PathValue("roleId"), "Role"), false
	}
	u.roles = slices.Delete(u.roles, i, i+1)
	s.logLocked(s.adminEvent("user.account.privilege.revoke", "Revoke user privilege", "admin@oktatest.invalid", userActor(u)))
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent, true
}

// --- risk ---

func (s *Server) getRisk(w http.ResponseWriter, r *http.Request) (int, bool) {
	s.mu.Lock()
	u, ok := s.userLocked(r.PathValue("id"))
	risk := ""
	if ok {
		risk = u.risk
	}
	s.mu.Unlock()
	if !ok {
		return notFound(w, r.PathValue("id"), "User"), false
	}
	return writeJSON(w, http.StatusOK, map[string]string{"riskLevel": risk}), false
}

func (s *Server) putRisk(w http.ResponseWriter, r *http.Request) (int, bool) {
	var body struct {
		RiskLevel string `json:"riskLevel"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || !slices.Contains([]string{"HIGH", "LOW"}, body.RiskLevel) {
		return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: riskLevel", "riskLevel: must be HIGH or LOW"), false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userLocked(r.PathValue("id"))
	if !ok {
		return notFound(w, r.PathValue("id"), "User"), false
	}
	u.risk = body.RiskLevel
	return writeJSON(w, http.StatusOK, map[string]string{"riskLevel": u.risk, "reason": "override.by.admin"}), true
}

// --- groups ---

func (s *Server) userGroups(w http.ResponseWriter, r *http.Request) (int, bool) {
	s.mu.Lock()
	u, ok := s.userLocked(r.PathValue("id"))
	var out []okta.Group
	if ok {
		for _, g := range s.groups {
			if g.members[u.u.ID] {
				out = append(out, g.g)
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		return notFound(w, r.PathValue("id"), "User"), false
	}
	slices.SortFunc(out, func(a, b okta.Group) int { return strings.Compare(a.ID, b.ID) })
	return s.page(w, r, out, func(g okta.Group) string { return g.ID })
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) (int, bool) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	s.mu.Lock()
	var out []okta.Group
	for _, g := range s.groups {
		if q == "" || strings.HasPrefix(strings.ToLower(g.g.Profile.Name), q) {
			out = append(out, g.g)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b okta.Group) int { return strings.Compare(a.ID, b.ID) })
	return s.page(w, r, out, func(g okta.Group) string { return g.ID })
}

// page writes the items after the "after" id, at most "limit" of them,
// with a Link rel="next" when more remain.
func (s *Server) page(w http.ResponseWriter, r *http.Request, items []okta.Group, id func(okta.Group) string) (int, bool) {
	q := r.URL.Query()
	limit := 200
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: limit", "limit: must be a positive integer"), false
		}
		limit = min(n, 10000)
	}
	if after := q.Get("after"); after != "" {
		i := slices.IndexFunc(items, func(g okta.Group) bool { return id(g) > after })
		if i < 0 {
			i = len(items)
		}
		items = items[i:]
	}
	if len(items) > limit {
		items = items[:limit]
		nq := url.Values{}
		copyValues(nq, q)
		nq.Set("after", id(items[len(items)-1]))
		w.Header().Add("Link", "<"+s.URL+r.URL.Path+"?"+nq.Encode()+`>; rel="next"`)
	}
	w.Header().Add("Link", "<"+s.URL+r.URL.Path+"?"+r.URL.RawQuery+`>; rel="self"`)
	if items == nil {
		items = []okta.Group{}
	}
	return writeJSON(w, http.StatusOK, items), false
}

// copyValues copies src into dst.
func copyValues(dst, src url.Values) {
	for k, v := range src {
		dst[k] = slices.Clone(v)
	}
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) (int, bool) {
	s.mu.Lock()
	g, ok := s.groups[r.PathValue("id")]
	var cp okta.Group
	if ok {
		cp = g.g
	}
	s.mu.Unlock()
	if !ok {
		return notFound(w, r.PathValue("id"), "UserGroup"), false
	}
	return writeJSON(w, http.StatusOK, cp), false
}

func (s *Server) addMemberLocked(u *user, g *group, actor string) {
	g.members[u.u.ID] = true
	s.logLocked(s.adminEvent(okta.EventGroupMembershipAdd, "Add user to group membership", actor, userActor(u),
		okta.Actor{ID: g.g.ID, Type: "UserGroup", AlternateID: "unknown", DisplayName: g.g.Profile.Name}))
}

func (s *Server) membership(add bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (int, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		g, ok := s.groups[r.PathValue("groupId")]
		if !ok {
			return notFound(w, r.PathValue("groupId"), "UserGroup"), false
		}
		u, ok := s.userLocked(r.PathValue("userId"))
		if !ok {
			return notFound(w, r.PathValue("userId"), "User"), false
		}
		if g.g.Type != "OKTA_GROUP" {
			return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: group", "Cannot modify the membership of an "+g.g.Type+" group"), false
		}
		changed := g.members[u.u.ID] != add
		if changed && add {
			s.addMemberLocked(u, g, "admin@oktatest.invalid")
		} else if changed {
			delete(g.members, u.u.ID)
			s.logLocked(s.adminEvent("group.user_membership.remove", "Remove user from group membership", "admin@oktatest.invalid", userActor(u),
				okta.Actor{ID: g.g.ID, Type: "UserGroup", AlternateID: "unknown", DisplayName: g.g.Profile.Name}))
		}
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, changed
	}
}

// --- System Log ---

func (s *Server) getLogs(w http.ResponseWriter, r *http.Request) (int, bool) {
	q := r.URL.Query()
	badDate := func(name string) (int, bool) {
		return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation,
			fmt.Sprintf("Api validation failed: '%s': The date format in your query is not recognized. Please enter dates using ISO8601 string format. '%s': must be a valid date-time or empty.", name, name),
			name+": The date format in your query is not recognized. Please enter dates using ISO8601 string format.", name+": must be a valid date-time or empty."), false
	}
	now := time.Now()
	since, until := now.Add(-7*24*time.Hour), time.Time{}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return badDate("since")
		}
		since = t
	}
	if v := q.Get("until"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return badDate("until")
		}
		until = t
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: limit", "limit: must be between 0 and 1000"), false
		}
		limit = n
	}
	order := q.Get("sortOrder")
	if order == "" {
		order = "ASCENDING"
	}
	if order != "ASCENDING" && order != "DESCENDING" {
		return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: sortOrder", "sortOrder: must be ASCENDING or DESCENDING"), false
	}
	filter, err := parseFilter(q.Get("filter"))
	if err != nil {
		return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: filter", "filter: "+err.Error()), false
	}
	s.mu.Lock()
	logs := slices.Clone(s.logs)
	s.mu.Unlock()

	nq := url.Values{}
	copyValues(nq, q)
	var out []okta.LogEvent
	if until.IsZero() && order == "ASCENDING" {
		// Polling mode: persistence order, an opaque "after" cursor, and
		// a next link on every page.
		start := 0
		if a := q.Get("after"); a != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(a, "p"))
			if err != nil || n < 0 || n > len(logs) {
				return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: after", "after: invalid cursor"), false
			}
			start = n
		}
		pos := start
		for pos < len(logs) && len(out) < limit {
			e := logs[pos]
			pos++
			if e.Published.Before(since) || !filter(e) {
				continue
			}
			out = append(out, e)
		}
		nq.Set("after", "p"+strconv.Itoa(pos))
		nq.Del("since")
		w.Header().Add("Link", "<"+s.URL+r.URL.Path+"?"+r.URL.RawQuery+`>; rel="self"`)
		w.Header().Add("Link", "<"+s.URL+r.URL.Path+"?"+nq.Encode()+`>; rel="next"`)
	} else {
		if until.IsZero() {
			until = s.lastPublished().Add(time.Millisecond) // up to the newest event
		}
		var sel []okta.LogEvent
		for _, e := range logs {
			if !e.Published.Before(since) && e.Published.Before(until) && filter(e) {
				sel = append(sel, e)
			}
		}
		slices.SortStableFunc(sel, func(a, b okta.LogEvent) int { return a.Published.Compare(b.Published) })
		if order == "DESCENDING" {
			slices.Reverse(sel)
		}
		off := 0
		if a := q.Get("after"); a != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(a, "b"))
			if err != nil || n < 0 || n > len(sel) {
				return writeError(w, http.StatusBadRequest, okta.CodeAPIValidation, "Api validation failed: after", "after: invalid cursor"), false
			}
			off = n
		}
		sel = sel[off:]
		if len(sel) > limit {
			sel = sel[:limit]
			nq.Set("after", "b"+strconv.Itoa(off+limit))
			w.Header().Add("Link", "<"+s.URL+r.URL.Path+"?"+nq.Encode()+`>; rel="next"`)
		}
		out = sel
	}
	raws := make([]json.RawMessage, 0, len(out))
	for _, e := range out {
		raws = append(raws, e.Raw)
	}
	return writeJSON(w, http.StatusOK, raws), false
}

// parseFilter parses the subset of the System Log filter language the
// emulator supports: attr eq "value" terms joined by "and", over eventType,
// uuid, actor.id, actor.alternateId, target.id, target.alternateId and
// outcome.result.
func parseFilter(f string) (func(okta.LogEvent) bool, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return func(okta.LogEvent) bool { return true }, nil
	}
	type term struct{ attr, value string }
	var terms []term
	rest := f
	for {
		rest = strings.TrimSpace(rest)
		attr, after, ok := strings.Cut(rest, " ")
		if !ok {
			return nil, fmt.Errorf("incomplete expression %q", f)
		}
		after = strings.TrimSpace(after)
		op, after, ok := strings.Cut(after, " ")
		if !ok || op != "eq" {
			return nil, fmt.Errorf("unsupported operator in %q (the emulator supports eq)", f)
		}
		after = strings.TrimSpace(after)
		if !strings.HasPrefix(after, `"`) {
			return nil, fmt.Errorf("value of %s must be a quoted string", attr)
		}
		var val strings.Builder
		i := 1
		for ; i < len(after) && after[i] != '"'; i++ {
			if after[i] == '\\' && i+1 < len(after) {
				i++
			}
			val.WriteByte(after[i])
		}
		if i >= len(after) {
			return nil, fmt.Errorf("unterminated string in %q", f)
		}
		switch attr {
		case "eventType", "uuid", "actor.id", "actor.alternateId", "target.id", "target.alternateId", "outcome.result":
		default:
			return nil, fmt.Errorf("unsupported attribute %q", attr)
		}
		terms = append(terms, term{attr, val.String()})
		rest = strings.TrimSpace(after[i+1:])
		if rest == "" {
			break
		}
		conj, r2, _ := strings.Cut(rest, " ")
		if conj != "and" {
			return nil, fmt.Errorf("unsupported conjunction %q (the emulator supports and)", conj)
		}
		rest = r2
	}
	return func(e okta.LogEvent) bool {
		for _, t := range terms {
			if !matchTerm(e, t.attr, t.value) {
				return false
			}
		}
		return true
	}, nil
}

func matchTerm(e okta.LogEvent, attr, v string) bool {
	switch attr {
	case "eventType":
		return e.EventType == v
	case "uuid":
		return e.UUID == v
	case "actor.id":
		return e.Actor.ID == v
	case "actor.alternateId":
		return strings.EqualFold(e.Actor.AlternateID, v)
	case "outcome.result":
		return e.Outcome != nil && e.Outcome.Result == v
	case "target.id", "target.alternateId":
		return slices.ContainsFunc(e.Target, func(t okta.Actor) bool {
			if attr == "target.id" {
				return t.ID == v
			}
			return strings.EqualFold(t.AlternateID, v)
		})
	}
	return false
}

func (s *Server) lastPublished() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return later(s.lastPub, time.Now())
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

package entratest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ServeHTTP serves the token endpoint and Graph v1.0.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := e.opts.Now()
	rec := Request{Time: now, Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		rec.Status = sw.status
		e.mu.Lock()
		e.requests = append(e.requests, rec)
		e.mu.Unlock()
	}()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token" {
		_, rec.ClientID = e.serveToken(sw, r, parts[0])
		return
	}
	if len(parts) == 0 || parts[0] != "v1.0" {
		graphError(sw, now, http.StatusNotFound, "BadRequest", "Invalid version: only v1.0 is emulated.")
		return
	}
	rec.Path = "/" + strings.Join(parts[1:], "/")
	clientID, ok := e.authenticate(sw, r, now)
	rec.ClientID = clientID
	if !ok {
		return
	}
	write := r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodDelete
	e.mu.Lock()
	if write {
		e.writes++
	}
	f := e.faultLocked(r.Method, rec.Path)
	throttled := false
	if f == nil && strings.HasPrefix(rec.Path, "/identityProtection/") && e.opts.IdentityProtectionInterval > 0 {
		if !e.lastIP.IsZero() && now.Sub(e.lastIP) < e.opts.IdentityProtectionInterval-e.opts.ThrottleTolerance {
			throttled = true
		} else {
			e.lastIP = now
		}
	}
	e.mu.Unlock()
	switch {
	case f != nil:
		if f.RetryAfter != "" {
			sw.Header().Set("Retry-After", f.RetryAfter)
		}
		graphError(sw, now, f.Status, f.Code, f.Message)
		return
	case throttled:
		// Identity Protection throttles per tenant and sends no Retry-After.
		graphError(sw, now, http.StatusTooManyRequests, "TooManyRequests", "Too Many Requests")
		return
	}
	e.route(sw, r, parts[1:], now)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// faultLocked returns the first injected fault selecting the request and
// uses it up.
func (e *Emulator) faultLocked(method, path string) *Fault {
	for i, f := range e.faults {
		if (f.Method == "" || strings.EqualFold(f.Method, method)) && strings.Contains(path, f.PathContains) {
			f.Times--
			if f.Times <= 0 {
				e.faults = slices.Delete(e.faults, i, i+1)
			}
			out := *f
			if out.Code == "" {
				switch out.Status {
				case http.StatusTooManyRequests:
					out.Code = "TooManyRequests"
				case http.StatusForbidden:
					out.Code = "Authorization_RequestDenied"
				case http.StatusServiceUnavailable:
					out.Code = "serviceNotAvailable"
				case http.StatusUnauthorized:
					out.Code = "InvalidAuthenticationToken"
				default:
					out.Code = "generalException"
				}
			}
			if out.Message == "" {
				switch out.Status {
				case http.StatusTooManyRequests:
					out.Message = "Please retry again later."
				case http.StatusForbidden:
					out.Message = "Insufficient privileges to complete the operation."
				default:
					out.Message = http.StatusText(out.Status)
				}
			}
			return &out
		}
	}
	return nil
}

// graphError writes Graph's error body.
func graphError(w http.ResponseWriter, now time.Time, status int, code, message string) {
	inner := map[string]any{"date": now.UTC().Format("2006-01-02T15:04:05"), "request-id": NewID(), "client-request-id": NewID()}
	if status == http.StatusTooManyRequests {
		inner["code"], inner["status"] = "429", "429"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": message, "innerError": inner}})
}

func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request, now time.Time) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		graphError(w, now, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return "", false
	}
	e.mu.Lock()
	t, known := e.tokens[tok]
	e.mu.Unlock()
	switch {
	case !known:
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token", error_description="The access token is invalid"`)
		graphError(w, now, http.StatusUnauthorized, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
		return "", false
	case t.revoked:
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token", error_description="The access token has been revoked"`)
		graphError(w, now, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return t.clientID, false
	case !now.Before(t.expires):
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token", error_description="The access token is expired"`)
		graphError(w, now, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return t.clientID, false
	}
	return t.clientID, true
}

func notFound(w http.ResponseWriter, now time.Time, ref string) {
	graphError(w, now, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", ref))
}

func badRequest(w http.ResponseWriter, now time.Time, code, msg string) {
	graphError(w, now, http.StatusBadRequest, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// route dispatches a Graph request (segments after /v1.0).
func (e *Emulator) route(w http.ResponseWriter, r *http.Request, seg []string, now time.Time) {
	n := len(seg)
	m := r.Method
	get, post, patch, del := m == http.MethodGet, m == http.MethodPost, m == http.MethodPatch, m == http.MethodDelete
	switch {
	case n == 2 && seg[0] == "users" && get:
		e.getUser(w, r, seg[1], now)
	case n == 2 && seg[0] == "users" && patch:
		e.patchUser(w, r, seg[1], now)
	case n == 3 && seg[0] == "users" && seg[2] == "revokeSignInSessions" && post:
		e.revoke(w, r, seg[1], now)
	case n >= 3 && seg[0] == "users" && (seg[2] == "transitiveMemberOf" || seg[2] == "memberOf") && get:
		e.memberOf(w, r, seg[1], seg[2] == "transitiveMemberOf", now)
	case n == 1 && seg[0] == "groups" && get:
		e.listGroups(w, r, now)
	case n == 2 && seg[0] == "groups" && get:
		e.getGroup(w, seg[1], now)
	case n == 3 && seg[0] == "groups" && seg[2] == "members" && get:
		e.groupMembers(w, r, seg[1], now)
	case n == 4 && seg[0] == "groups" && seg[2] == "members" && seg[3] == "$ref" && post:
		e.addMember(w, r, seg[1], now)
	case n == 5 && seg[0] == "groups" && seg[2] == "members" && seg[4] == "$ref" && del:
		e.removeMember(w, seg[1], seg[3], now)
	case n == 4 && seg[0] == "groups" && seg[2] == "members" && del:
		// Without /$ref Graph deletes the member object itself when the
		// app may manage it: the mistake the provider must never make.
		e.deleteMemberObject(w, seg[1], seg[3], now)
	case n == 3 && seg[0] == "roleManagement" && seg[1] == "directory" && seg[2] == "roleAssignments" && get:
		e.listAssignments(w, r, now)
	case n == 3 && seg[0] == "roleManagement" && seg[1] == "directory" && seg[2] == "roleAssignments" && post:
		e.createAssignment(w, r, now)
	case n == 4 && seg[0] == "roleManagement" && seg[1] == "directory" && seg[2] == "roleAssignments" && del:
		e.deleteAssignment(w, seg[3], now)
	case n == 3 && seg[0] == "roleManagement" && seg[1] == "directory" && seg[2] == "roleDefinitions" && get:
		e.listRoleDefinitions(w, r, now)
	case n == 2 && seg[0] == "auditLogs" && seg[1] == "signIns" && get:
		e.listRecords(w, r, now, "createdDateTime", 1000, 1000, true)
	case n == 2 && seg[0] == "auditLogs" && seg[1] == "directoryAudits" && get:
		e.listRecords(w, r, now, "activityDateTime", 1000, 1000, true)
	case n == 2 && seg[0] == "identityProtection" && seg[1] == "riskDetections" && get:
		e.listRecords(w, r, now, "detectedDateTime", 20, 500, false)
	case n == 2 && seg[0] == "identityProtection" && seg[1] == "riskyUsers" && get:
		e.listRiskyUsers(w, r, now)
	case n == 3 && seg[0] == "identityProtection" && seg[1] == "riskyUsers" && seg[2] == "confirmCompromised" && post:
		e.setRisk(w, r, now, "confirmedCompromised", "high", "adminConfirmedUserCompromised")
	case n == 3 && seg[0] == "identityProtection" && seg[1] == "riskyUsers" && seg[2] == "dismiss" && post:
		e.setRisk(w, r, now, "dismissed", "none", "adminDismissedAllRiskForUser")
	case n == 3 && seg[0] == "identityProtection" && seg[1] == "riskyUsers" && get:
		e.getRiskyUser(w, seg[2], now)
	default:
		badRequest(w, now, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg[len(seg)-1]))
	}
}

// --- query options ---

type query struct {
	eq   map[string]string    // field eq 'value'
	ge   map[string]time.Time // field ge datetime
	top  int
	skip int
}

// parseQuery reads $filter (clauses "f eq 'v'" and "f ge T" joined by
// "and"), $top (1..max, default def) and $skiptoken.
func parseQuery(r *http.Request, def, maxTop int, strictTop bool) (query, string) {
	q := query{eq: map[string]string{}, ge: map[string]time.Time{}, top: def}
	v := r.URL.Query()
	if f := strings.TrimSpace(v.Get("$filter")); f != "" {
		for _, clause := range strings.Split(f, " and ") {
			field, rest, ok := strings.Cut(strings.TrimSpace(clause), " ")
			if !ok {
				return q, "Invalid filter clause: " + clause
			}
			op, val, ok := strings.Cut(strings.TrimSpace(rest), " ")
			if !ok {
				return q, "Invalid filter clause: " + clause
			}
			val = strings.TrimSpace(val)
			switch op {
			case "eq":
				if len(val) < 2 || val[0] != '\'' || val[len(val)-1] != '\'' {
					return q, "Invalid filter clause: the value of " + field + " must be a quoted string"
				}
				q.eq[field] = strings.ReplaceAll(val[1:len(val)-1], "''", "'")
			case "ge":
				t, err := time.Parse(time.RFC3339Nano, val)
				if err != nil {
					return q, "Invalid filter clause: " + val + " is not a DateTimeOffset"
				}
				q.ge[field] = t
			default:
				return q, "Unsupported filter operator '" + op + "'"
			}
		}
	}
	if t := v.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 {
			return q, fmt.Sprintf("Invalid page size specified: '%s'", t)
		}
		if n > maxTop {
			if strictTop {
				return q, fmt.Sprintf("Invalid page size specified: '%s'", t)
			}
			n = maxTop
		}
		q.top = n
	}
	if s := v.Get("$skiptoken"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			return q, "Invalid $skiptoken."
		}
		q.skip = n
	}
	return q, ""
}

// page writes items[q.skip : q.skip+q.top] with a nextLink when more
// remain.
func page(w http.ResponseWriter, r *http.Request, q query, items []any, context string) {
	start := min(q.skip, len(items))
	end := min(start+q.top, len(items))
	body := map[string]any{"@odata.context": context, "value": items[start:end]}
	if end < len(items) {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		if r.TLS != nil {
			u.Scheme = "https"
		}
		v := u.Query()
		v.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		u.RawQuery = v.Encode()
		body["@odata.nextLink"] = u.String()
	}
	if items == nil || end == start {
		body["value"] = []any{}
	}
	writeJSON(w, http.StatusOK, body)
}

func readBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	return dec.Decode(v)
}

// --- users ---

func (e *Emulator) userJSON(u *User) map[string]any {
	m := map[string]any{"id": u.ID, "userPrincipalName": u.UserPrincipalName, "displayName": u.DisplayName,
		"mail": nilIfEmpty(u.Mail), "department": nilIfEmpty(u.Department), "jobTitle": nilIfEmpty(u.JobTitle),
		"accountEnabled": !u.Disabled, "createdDateTime": u.CreatedDateTime.UTC().Format(time.RFC3339)}
	if !u.SignInSessionsValidFrom.IsZero() {
		m["signInSessionsValidFromDateTime"] = u.SignInSessionsValidFrom.UTC().Format(time.RFC3339)
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (e *Emulator) getUser(w http.ResponseWriter, r *http.Request, ref string, now time.Time) {
	e.mu.Lock()
	u := e.userLocked(ref)
	if u == nil {
		e.mu.Unlock()
		notFound(w, now, ref)
		return
	}
	body := e.userJSON(u)
	if strings.HasPrefix(r.URL.Query().Get("$expand"), "manager") && u.ManagerID != "" {
		if m := e.users[u.ManagerID]; m != nil {
			body["manager"] = map[string]any{"@odata.type": "#microsoft.graph.user", "id": m.ID, "userPrincipalName": m.UserPrincipalName}
		}
	}
	e.mu.Unlock()
	body["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) patchUser(w http.ResponseWriter, r *http.Request, ref string, now time.Time) {
	var body map[string]json.RawMessage
	if err := readBody(r, &body); err != nil {
		badRequest(w, now, "Request_BadRequest", "Invalid request body: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userLocked(ref)
	if u == nil {
		notFound(w, now, ref)
		return
	}
	next := *u
	for k, v := range body {
		var err error
		switch k {
		case "accountEnabled":
			var b bool
			if err = json.Unmarshal(v, &b); err == nil {
				next.Disabled = !b
			}
		case "department":
			err = json.Unmarshal(v, &next.Department)
		case "jobTitle":
			err = json.Unmarshal(v, &next.JobTitle)
		case "displayName":
			err = json.Unmarshal(v, &next.DisplayName)
		default:
			badRequest(w, now, "Request_BadRequest", fmt.Sprintf("Property '%s' is not writable in this emulator.", k))
			return
		}
		if err != nil {
			badRequest(w, now, "Request_BadRequest", fmt.Sprintf("Invalid value for property '%s'.", k))
			return
		}
	}
	*u = next
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) revoke(w http.ResponseWriter, _ *http.Request, ref string, now time.Time) {
	e.mu.Lock()
	u := e.userLocked(ref)
	if u != nil {
		u.Sessions = 0
		u.SignInSessionsValidFrom = now.UTC()
	}
	e.mu.Unlock()
	if u == nil {
		notFound(w, now, ref)
		return
	}
	// Documented as 204; Graph answers 200 with a boolean (known issue).
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": true})
}

// groupsOfLocked returns the groups principal belongs to, directly or
// through nested groups when transitive.
func (e *Emulator) groupsOfLocked(principal string, transitive bool) []*Group {
	seen := map[string]bool{}
	var out []*Group
	frontier := []string{principal}
	for len(frontier) > 0 {
		next := []string{}
		for _, id := range frontier {
			for _, g := range e.groups {
				if !seen[g.ID] && slices.Contains(g.Members, id) {
					seen[g.ID] = true
					out = append(out, g)
					next = append(next, g.ID)
				}
			}
		}
		if !transitive {
			break
		}
		frontier = next
	}
	slices.SortFunc(out, func(a, b *Group) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func groupJSON(g *Group, typed bool) map[string]any {
	m := map[string]any{"id": g.ID, "displayName": g.DisplayName, "isAssignableToRole": g.IsAssignableToRole,
		"securityEnabled": true, "mailEnabled": false, "groupTypes": []string{}}
	if typed {
		m["@odata.type"] = "#microsoft.graph.group"
	}
	return m
}

func (e *Emulator) memberOf(w http.ResponseWriter, r *http.Request, ref string, transitive bool, now time.Time) {
	q, msg := parseQuery(r, 100, 999, false)
	if msg != "" {
		badRequest(w, now, "Request_BadRequest", msg)
		return
	}
	e.mu.Lock()
	u := e.userLocked(ref)
	var items []any
	if u != nil {
		for _, g := range e.groupsOfLocked(u.ID, transitive) {
			items = append(items, groupJSON(g, true))
		}
	}
	e.mu.Unlock()
	if u == nil {
		notFound(w, now, ref)
		return
	}
	page(w, r, q, items, "https://graph.microsoft.com/v1.0/$metadata#directoryObjects")
}

// --- groups ---

func (e *Emulator) listGroups(w http.ResponseWriter, r *http.Request, now time.Time) {
	q, msg := parseQuery(r, 100, 999, false)
	if msg != "" {
		badRequest(w, now, "Request_UnsupportedQuery", msg)
		return
	}
	e.mu.Lock()
	var gs []*Group
	for _, g := range e.groups {
		if name, ok := q.eq["displayName"]; ok && g.DisplayName != name {
			continue
		}
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *Group) int { return strings.Compare(a.ID, b.ID) })
	var items []any
	for _, g := range gs {
		items = append(items, groupJSON(g, false))
	}
	e.mu.Unlock()
	page(w, r, q, items, "https://graph.microsoft.com/v1.0/$metadata#groups")
}

func (e *Emulator) getGroup(w http.ResponseWriter, id string, now time.Time) {
	e.mu.Lock()
	g, ok := e.groups[id]
	var body map[string]any
	if ok {
		body = groupJSON(g, false)
	}
	e.mu.Unlock()
	if !ok {
		notFound(w, now, id)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) groupMembers(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	q, msg := parseQuery(r, 100, 999, false)
	if msg != "" {
		badRequest(w, now, "Request_BadRequest", msg)
		return
	}
	e.mu.Lock()
	g, ok := e.groups[id]
	var items []any
	if ok {
		for _, m := range g.Members {
			if u := e.users[m]; u != nil {
				items = append(items, map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.ID, "userPrincipalName": u.UserPrincipalName})
			} else if sub := e.groups[m]; sub != nil {
				items = append(items, groupJSON(sub, true))
			}
		}
	}
	e.mu.Unlock()
	if !ok {
		notFound(w, now, id)
		return
	}
	page(w, r, q, items, "https://graph.microsoft.com/v1.0/$metadata#directoryObjects")
}

func (e *Emulator) addMember(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	var body struct {
		ODataID string `json:"@odata.id"`
	}
	if err := readBody(r, &body); err != nil || body.ODataID == "" {
		badRequest(w, now, "Request_BadRequest", "The request body must carry @odata.id.")
		return
	}
	u, err := url.Parse(body.ODataID)
	member := ""
	if err == nil {
		member = u.Path[strings.LastIndexByte(u.Path, '/')+1:]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[id]
	if !ok {
		notFound(w, now, id)
		return
	}
	if e.users[member] == nil && e.groups[member] == nil {
		notFound(w, now, member)
		return
	}
	if slices.Contains(g.Members, member) {
		badRequest(w, now, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
		return
	}
	g.Members = append(g.Members, member)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) removeMember(w http.ResponseWriter, id, member string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[id]
	if !ok {
		notFound(w, now, id)
		return
	}
	i := slices.Index(g.Members, member)
	if i < 0 {
		notFound(w, now, member)
		return
	}
	g.Members = slices.Delete(g.Members, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) deleteMemberObject(w http.ResponseWriter, id, member string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[id]
	if !ok || !slices.Contains(g.Members, member) {
		notFound(w, now, member)
		return
	}
	for _, grp := range e.groups {
		grp.Members = slices.DeleteFunc(grp.Members, func(m string) bool { return m == member })
	}
	delete(e.users, member)
	w.WriteHeader(http.StatusNoContent)
}

// --- roles ---

func (e *Emulator) assignmentJSON(a RoleAssignment, expand bool) map[string]any {
	m := map[string]any{"id": a.ID, "principalId": a.PrincipalID, "roleDefinitionId": a.RoleDefinitionID,
		"directoryScopeId": a.DirectoryScopeID, "resourceScope": a.DirectoryScopeID, "appScopeId": nil}
	if expand {
		d := e.roles[a.RoleDefinitionID]
		m["roleDefinition"] = map[string]any{"id": d.ID, "displayName": d.DisplayName, "templateId": d.TemplateID, "isBuiltIn": d.ID == d.TemplateID, "isEnabled": true}
	}
	return m
}

func (e *Emulator) listAssignments(w http.ResponseWriter, r *http.Request, now time.Time) {
	q, msg := parseQuery(r, 100, 999, false)
	if msg != "" {
		badRequest(w, now, "Request_UnsupportedQuery", msg)
		return
	}
	for f := range q.eq {
		if f != "principalId" && f != "roleDefinitionId" {
			badRequest(w, now, "Request_UnsupportedQuery", "Unsupported filter property '"+f+"'.")
			return
		}
	}
	expand := strings.Contains(r.URL.Query().Get("$expand"), "roleDefinition")
	e.mu.Lock()
	var as []RoleAssignment
	for _, a := range e.assignments {
		if p, ok := q.eq["principalId"]; ok && !strings.EqualFold(a.PrincipalID, p) {
			continue
		}
		if d, ok := q.eq["roleDefinitionId"]; ok && !strings.EqualFold(a.RoleDefinitionID, d) {
			continue
		}
		as = append(as, a)
	}
	slices.SortFunc(as, func(a, b RoleAssignment) int { return strings.Compare(a.ID, b.ID) })
	var items []any
	for _, a := range as {
		items = append(items, e.assignmentJSON(a, expand))
	}
	e.mu.Unlock()
	page(w, r, q, items, "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignments")
}

func (e *Emulator) createAssignment(w http.ResponseWriter, r *http.Request, now time.Time) {
	var body struct {
		PrincipalID      string `json:"principalId"`
		RoleDefinitionID string `json:"roleDefinitionId"`
		DirectoryScopeID string `json:"directoryScopeId"`
	}
	if err := readBody(r, &body); err != nil || body.PrincipalID == "" || body.RoleDefinitionID == "" {
		badRequest(w, now, "Request_BadRequest", "principalId and roleDefinitionId are required.")
		return
	}
	if body.DirectoryScopeID == "" {
		badRequest(w, now, "Request_BadRequest", "directoryScopeId is required.")
		return
	}
	e.mu.Lock()
	if e.users[body.PrincipalID] == nil && e.groups[body.PrincipalID] == nil {
		e.mu.Unlock()
		notFound(w, now, body.PrincipalID)
		return
	}
	if _, ok := e.roles[body.RoleDefinitionID]; !ok {
		e.mu.Unlock()
		notFound(w, now, body.RoleDefinitionID)
		return
	}
	for _, a := range e.assignments {
		if a.PrincipalID == body.PrincipalID && a.RoleDefinitionID == body.RoleDefinitionID && a.DirectoryScopeID == body.DirectoryScopeID {
			e.mu.Unlock()
			badRequest(w, now, "Request_BadRequest", "A conflicting object with one or more of the specified property values is present in the directory.")
			return
		}
	}
	a := RoleAssignment{ID: NewID(), PrincipalID: body.PrincipalID, RoleDefinitionID: body.RoleDefinitionID, DirectoryScopeID: body.DirectoryScopeID}
	e.assignments[a.ID] = a
	out := e.assignmentJSON(a, false)
	e.mu.Unlock()
	out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity"
	writeJSON(w, http.StatusCreated, out)
}

func (e *Emulator) deleteAssignment(w http.ResponseWriter, id string, now time.Time) {
	e.mu.Lock()
	_, ok := e.assignments[id]
	delete(e.assignments, id)
	e.mu.Unlock()
	if !ok {
		notFound(w, now, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) listRoleDefinitions(w http.ResponseWriter, r *http.Request, now time.Time) {
	q, msg := parseQuery(r, 100, 999, false)
	if msg != "" {
		badRequest(w, now, "Request_UnsupportedQuery", msg)
		return
	}
	e.mu.Lock()
	var ds []RoleDefinition
	for _, d := range e.roles {
		ds = append(ds, d)
	}
	e.mu.Unlock()
	slices.SortFunc(ds, func(a, b RoleDefinition) int { return strings.Compare(a.ID, b.ID) })
	var items []any
	for _, d := range ds {
		items = append(items, map[string]any{"id": d.ID, "displayName": d.DisplayName, "templateId": d.TemplateID, "isBuiltIn": d.ID == d.TemplateID, "isEnabled": true})
	}
	page(w, r, q, items, "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleDefinitions")
}

// --- logs and Identity Protection ---

// listRecords serves a log: filtered by userId eq and {timeField} ge,
// newest first (desc) or oldest first.
func (e *Emulator) listRecords(w http.ResponseWriter, r *http.Request, now time.Time, timeField string, def, maxTop int, desc bool) {
	strict := timeField == "detectedDateTime"
	q, msg := parseQuery(r, def, maxTop, strict)
	if msg != "" {
		code := "Request_UnsupportedQuery"
		if strings.HasPrefix(msg, "Invalid page size") {
			code = "invalidRequest"
		}
		badRequest(w, now, code, msg)
		return
	}
	for f := range q.ge {
		if f != timeField {
			badRequest(w, now, "Request_UnsupportedQuery", "Unsupported filter property '"+f+"'.")
			return
		}
	}
	for f := range q.eq {
		if f != "userId" {
			badRequest(w, now, "Request_UnsupportedQuery", "Unsupported filter property '"+f+"'.")
			return
		}
	}
	e.mu.Lock()
	var src []record
	switch timeField {
	case "createdDateTime":
		src = slices.Clone(e.signIns)
	case "activityDateTime":
		src = slices.Clone(e.audits)
	default:
		src = slices.Clone(e.detections)
	}
	e.mu.Unlock()
	since, hasSince := q.ge[timeField]
	user, hasUser := q.eq["userId"]
	var keep []record
	for _, rec := range src {
		if hasSince && rec.at.Before(since) {
			continue
		}
		if hasUser && !strings.EqualFold(rec.userID, user) {
			continue
		}
		keep = append(keep, rec)
	}
	slices.SortStableFunc(keep, func(a, b record) int {
		c := a.at.Compare(b.at)
		if desc {
			c = -c
		}
		return c
	})
	items := make([]any, 0, len(keep))
	for _, rec := range keep {
		items = append(items, rec.raw)
	}
	page(w, r, q, items, "https://graph.microsoft.com/v1.0/$metadata#collection")
}

func (e *Emulator) listRiskyUsers(w http.ResponseWriter, r *http.Request, now time.Time) {
	q, msg := parseQuery(r, 20, 500, false)
	if msg != "" {
		badRequest(w, now, "invalidRequest", msg)
		return
	}
	since, hasSince := q.ge["riskLastUpdatedDateTime"]
	e.mu.Lock()
	var rs []*RiskyUser
	for _, ru := range e.risky {
		if hasSince && ru.LastUpdated.Before(since) {
			continue
		}
		rs = append(rs, ru)
	}
	slices.SortFunc(rs, func(a, b *RiskyUser) int {
		if c := a.LastUpdated.Compare(b.LastUpdated); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	items := make([]any, 0, len(rs))
	for _, ru := range rs {
		items = append(items, e.riskyUserJSON(ru))
	}
	e.mu.Unlock()
	page(w, r, q, items, "https://graph.microsoft.com/v1.0/$metadata#identityProtection/riskyUsers")
}

func (e *Emulator) getRiskyUser(w http.ResponseWriter, id string, now time.Time) {
	e.mu.Lock()
	ru, ok := e.risky[id]
	var body map[string]any
	if ok {
		body = e.riskyUserJSON(ru)
	}
	e.mu.Unlock()
	if !ok {
		graphError(w, now, http.StatusNotFound, "itemNotFound", "The requested resource does not exist.")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) setRisk(w http.ResponseWriter, r *http.Request, now time.Time, state, level, detail string) {
	var body struct {
		UserIDs []string `json:"userIds"`
	}
	if err := readBody(r, &body); err != nil || len(body.UserIDs) == 0 {
		badRequest(w, now, "invalidRequest", "userIds is required.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range body.UserIDs {
		if e.users[id] == nil {
			badRequest(w, now, "invalidRequest", fmt.Sprintf("User '%s' was not found.", id))
			return
		}
	}
	for _, id := range body.UserIDs {
		ru := e.risky[id]
		if ru == nil {
			ru = &RiskyUser{ID: id}
			e.risky[id] = ru
		}
		ru.RiskState, ru.RiskLevel, ru.RiskDetail, ru.LastUpdated = state, level, detail, now.UTC()
	}
	w.WriteHeader(http.StatusNoContent)
}

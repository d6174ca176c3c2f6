package okta

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// User statuses.
const (
	StatusStaged          = "STAGED"
	StatusProvisioned     = "PROVISIONED"
	StatusActive          = "ACTIVE"
	StatusRecovery        = "RECOVERY"
	StatusPasswordExpired = "PASSWORD_EXPIRED"
	StatusLockedOut       = "LOCKED_OUT"
	StatusSuspended       = "SUSPENDED"
	StatusDeprovisioned   = "DEPROVISIONED"
)

// User is an Okta user as GET /api/v1/users/{id} returns it (the fields the
// provider reads).
type User struct {
	ID                    string      `json:"id"`
	Status                string      `json:"status"`
	TransitioningToStatus string      `json:"transitioningToStatus,omitempty"`
	Created               time.Time   `json:"created,omitzero"`
	LastLogin             *time.Time  `json:"lastLogin,omitempty"`
	Profile               UserProfile `json:"profile"`
}

// UserProfile holds the user's profile attributes the provider reads.
type UserProfile struct {
	Login       string `json:"login"`
	Email       string `json:"email,omitempty"`
	FirstName   string `json:"firstName,omitempty"`
	LastName    string `json:"lastName,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Department  string `json:"department,omitempty"`
	Title       string `json:"title,omitempty"`
	ManagerID   string `json:"managerId,omitempty"`
	Manager     string `json:"manager,omitempty"`
}

// Name returns the display name, or "first last".
func (p UserProfile) Name() string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return strings.TrimSpace(p.FirstName + " " + p.LastName)
}

// RoleAssignment is one admin role assigned to a user (GET
// /api/v1/users/{id}/roles). ID is the assignment id.
type RoleAssignment struct {
	ID             string `json:"id"`
	Label          string `json:"label,omitempty"`
	Type           string `json:"type"`
	Status         string `json:"status,omitempty"`
	AssignmentType string `json:"assignmentType,omitempty"`
	// Role and ResourceSet identify a custom role assignment.
	Role        string `json:"role,omitempty"`
	ResourceSet string `json:"resource-set,omitempty"`
}

// Group is an Okta group.
type Group struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Profile struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
	} `json:"profile"`
}

// GetUser reads a user by id or login. An unknown user is a
// *playbook.ProviderError wrapping playbook.ErrNotFound.
func (c *Client) GetUser(ctx context.Context, id string) (User, error) {
	var u User
	_, err := c.getJSON(ctx, "GET /api/v1/users/{id}", "/api/v1/users/"+esc(id), nil, ScopeUsersRead, &u)
	return u, err
}

// UserRoles lists the admin roles assigned to a user, directly or through a
// group (AssignmentType USER or GROUP).
func (c *Client) UserRoles(ctx context.Context, id string) ([]RoleAssignment, error) {
	return getAll[RoleAssignment](ctx, c, "GET /api/v1/users/{id}/roles", "/api/v1/users/"+esc(id)+"/roles", nil, ScopeRolesRead, 0)
}

// UserGroups lists the groups a user belongs to, following paging.
func (c *Client) UserGroups(ctx context.Context, id string) ([]Group, error) {
	return getAll[Group](ctx, c, "GET /api/v1/users/{id}/groups", "/api/v1/users/"+esc(id)+"/groups", nil, ScopeGroupsRead, 0)
}

// GetGroup reads a group by id.
func (c *Client) GetGroup(ctx context.Context, id string) (Group, error) {
	var g Group
	_, err := c.getJSON(ctx, "GET /api/v1/groups/{id}", "/api/v1/groups/"+esc(id), nil, ScopeGroupsRead, &g)
	return g, err
}

// FindGroup resolves a group by id, or else by exact name (case-insensitive)
// through the q search. ok is false when none matches.
func (c *Client) FindGroup(ctx context.Context, ref string) (Group, bool, error) {
	if g, err := c.GetGroup(ctx, ref); err == nil {
		return g, true, nil
	} else if !isNotFound(err) {
		return Group{}, false, err
	}
	gs, err := getAll[Group](ctx, c, "GET /api/v1/groups", "/api/v1/groups", url.Values{"q": {ref}, "limit": {"200"}}, ScopeGroupsRead, 1000)
	if err != nil {
		return Group{}, false, err
	}
	for _, g := range gs {
		if strings.EqualFold(g.Profile.Name, ref) {
			return g, true, nil
		}
	}
	return Group{}, false, nil
}

// UserRisk reads a user's ITP risk level (GET /api/v1/users/{id}/risk):
// "HIGH", "MEDIUM", "LOW" or "NONE".
func (c *Client) UserRisk(ctx context.Context, id string) (string, error) {
	var r struct {
		RiskLevel string `json:"riskLevel"`
	}
	_, err := c.getJSON(ctx, "GET /api/v1/users/{id}/risk", "/api/v1/users/"+esc(id)+"/risk", nil, ScopeUserRiskRead, &r)
	return r.RiskLevel, err
}

// LogQuery selects System Log events in bounded mode.
type LogQuery struct {
	Filter     string
	Since      time.Time
	Until      time.Time
	Descending bool
	Limit      int
}

// Logs returns the events q selects, following paging up to q.Limit
// events (default 100).
func (c *Client) Logs(ctx context.Context, q LogQuery) ([]LogEvent, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	v := url.Values{"limit": {strconv.Itoa(min(limit, 1000))}}
	if q.Filter != "" {
		v.Set("filter", q.Filter)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Descending {
		v.Set("sortOrder", "DESCENDING")
	}
	var out []LogEvent
	next := "/api/v1/logs"
	for next != "" && len(out) < limit {
		resp, err := c.do(ctx, call{op: "GET /api/v1/logs", method: http.MethodGet, path: next, query: v, scope: ScopeLogsRead})
		if err != nil {
			return nil, err
		}
		page, err := DecodeLogEvents(resp.body)
		if err != nil {
			return nil, c.badReply("GET /api/v1/logs", resp.status, err)
		}
		out = append(out, page...)
		if len(page) == 0 || (q.Until.IsZero() && !q.Descending) {
			break // polling mode pages never end: the Poller follows them
		}
		next, v = resp.next(), nil
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// scimQuote quotes a value for a System Log filter expression.
func scimQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

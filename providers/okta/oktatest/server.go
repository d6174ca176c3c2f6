package oktatest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/iamplaybook/iamplaybook/providers/okta"
)

// Defaults of the zero Options.
const (
	DefaultRateLimit  = 600
	DefaultRateWindow = time.Minute
	// InProcessURL is the org URL of an in-process emulator (NewInProcess).
	InProcessURL = "https://emulator.oktatest.invalid"
)

// Options configure an emulator. The zero value works.
type Options struct {
	// APIToken is an SSWS token the emulator accepts with every scope.
	// Empty means no API token is accepted (OAuth only).
	APIToken string
	// RateLimit is the number of requests each endpoint bucket accepts per
	// RateWindow before answering 429 E0000047. Default DefaultRateLimit.
	RateLimit int
	// RateWindow is the bucket window. Default DefaultRateWindow.
	RateWindow time.Duration
}

// Server is an Okta org emulator: users and their status machine, admin
// roles, groups, sessions, ITP user risk, the System Log with polling-mode
// paging, OAuth 2.0 service apps with private_key_jwt, Event Hook delivery,
// and Okta's status codes, error bodies and rate-limit headers. Its clock
// is time.Now, so it follows a testing/synctest bubble's fake time when
// used in-process.
//
// Operations ("ops") name endpoints as method and path pattern, the way
// the rate-limit buckets are keyed: "POST /api/v1/users/{id}/lifecycle/suspend".
// All methods are safe for concurrent use.
type Server struct {
	// URL is the org URL to give the client.
	URL string

	hs      *httptest.Server
	handler http.Handler
	opts    Options

	mu       sync.Mutex
	seq      int
	users    map[string]*user
	groups   map[string]*group
	logs     []okta.LogEvent
	lastPub  time.Time
	clients  map[string]*oauthClient
	access   map[string]accessToken
	jtis     map[string]time.Time
	buckets  map[string]*bucket
	limits   map[string]int
	faults   []fault
	writes   int
	requests []Request
	hookNext int
	changed  chan struct{}
}

type user struct {
	u        okta.User
	sessions []string
	roles    []okta.RoleAssignment
	risk     string
}

type group struct {
	g       okta.Group
	members map[string]bool
}

type oauthClient struct {
	key    any
	scopes []string
}

type accessToken struct {
	client  string
	scopes  []string
	expires time.Time
}

type bucket struct {
	count   int
	reset   time.Time
	blocked time.Time
}

type fault struct {
	op         string
	status     int
	code       string
	summary    string
	retryAfter time.Duration
}

// Request is one request the emulator answered.
type Request struct {
	Op     string
	Method string
	Path   string
	Query  string
	Status int
	Auth   string // "SSWS", "Bearer" or "" (never the credential)
	Time   time.Time
}

// NewServer starts an emulator listening on a loopback port; Close stops
// it.
func NewServer(opts Options) *Server {
	s := newServer(opts)
	s.hs = httptest.NewServer(s.handler)
	s.URL = s.hs.URL
	return s
}

// NewInProcess returns an emulator that does not listen: HTTPClient
// dispatches requests to it in-process, which keeps a testing/synctest
// bubble's goroutines durably blocked. Its URL is InProcessURL.
func NewInProcess(opts Options) *Server {
	s := newServer(opts)
	s.URL = InProcessURL
	return s
}

func newServer(opts Options) *Server {
	if opts.RateLimit <= 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	s := &Server{opts: opts, users: map[string]*user{}, groups: map[string]*group{}, clients: map[string]*oauthClient{},
		access: map[string]accessToken{}, jtis: map[string]time.Time{}, buckets: map[string]*bucket{}, limits: map[string]int{},
		changed: make(chan struct{})}
	s.handler = s.routes()
	return s
}

// Close stops a listening emulator.
func (s *Server) Close() {
	if s.hs != nil {
		s.hs.Close()
	}
}

// HTTPClient returns a client for the emulator: the listening server's
// client, or one that serves requests in-process.
func (s *Server) HTTPClient() *http.Client {
	if s.hs != nil {
		return s.hs.Client()
	}
	return &http.Client{Transport: inProcess{s.handler}}
}

// Handler returns the emulator's http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

type inProcess struct{ h http.Handler }

// RoundTrip serves r with the emulator's handler, without a network.
func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// Await blocks until cond (called with the emulator unlocked) is true,
// re-checking after every request the emulator answers and every change
// made through its methods, or until ctx ends.
func (s *Server) Await(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) newID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%017d", prefix, s.seq)
}

// --- seeding and inspection ---

// UserSpec describes a user for AddUser.
type UserSpec struct {
	// Login is required and unique.
	Login      string
	FirstName  string
	LastName   string
	Email      string
	Department string
	Title      string
	ManagerID  string
	// Status defaults to ACTIVE.
	Status string
}

// AddUser creates a user and returns its id.
func (s *Server) AddUser(spec UserSpec) (string, error) {
	if spec.Login == "" {
		return "", fmt.Errorf("oktatest: AddUser: Login is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if strings.EqualFold(u.u.Profile.Login, spec.Login) {
			return "", fmt.Errorf("oktatest: AddUser: login %q exists", spec.Login)
		}
	}
	if spec.Status == "" {
		spec.Status = okta.StatusActive
	}
	if spec.Email == "" {
		spec.Email = spec.Login
	}
	id := s.newID("00u")
	s.users[id] = &user{u: okta.User{ID: id, Status: spec.Status, Created: time.Now().UTC().Truncate(time.Millisecond), Profile: okta.UserProfile{
		Login: spec.Login, Email: spec.Email, FirstName: spec.FirstName, LastName: spec.LastName,
		Department: spec.Department, Title: spec.Title, ManagerID: spec.ManagerID,
	}}, risk: "LOW"}
	s.notifyLocked()
	return id, nil
}

// User returns a copy of the user and whether it exists.
func (s *Server) User(id string) (okta.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return okta.User{}, false
	}
	return u.u, true
}

// SetStatus sets a user's status directly (no System Log event).
func (s *Server) SetStatus(id, status string) error {
	return s.withUser(id, func(u *user) { u.u.Status = status })
}

// SetRisk sets a user's ITP risk level ("LOW", "MEDIUM", "HIGH").
func (s *Server) SetRisk(id, level string) error {
	return s.withUser(id, func(u *user) { u.risk = level })
}

func (s *Server) withUser(id string, fn func(*user)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("oktatest: no user %q", id)
	}
	fn(u)
	s.notifyLocked()
	return nil
}

// AssignRole gives a user an admin role of type roleType directly, logging
// user.account.privilege.grant, and returns the assignment id.
func (s *Server) AssignRole(userID, roleType string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return "", fmt.Errorf("oktatest: no user %q", userID)
	}
	ra, st, _ := s.assignLocked(u, roleType, "admin@oktatest.invalid")
	if st != http.StatusCreated {
		return "", fmt.Errorf("oktatest: AssignRole(%s, %s): status %d", userID, roleType, st)
	}
	s.notifyLocked()
	return ra.ID, nil
}

// AssignRoleViaGroup records that a user holds an admin role through a
// group (assignmentType GROUP), which cannot be removed from the user
// directly (DELETE of the assignment answers 404).
func (s *Server) AssignRoleViaGroup(userID, roleType string) error {
	return s.withUser(userID, func(u *user) {
		u.roles = append(u.roles, okta.RoleAssignment{ID: s.newID("irb"), Label: roleLabels[roleType], Type: roleType, Status: "ACTIVE", AssignmentType: "GROUP"})
	})
}

// Roles returns the role types a user holds.
func (s *Server) Roles(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return nil
	}
	var out []string
	for _, r := range u.roles {
		out = append(out, r.Type)
	}
	return out
}

// AddGroup creates a group (type OKTA_GROUP unless groupType says
// otherwise) and returns its id.
func (s *Server) AddGroup(name, groupType string) string {
	if groupType == "" {
		groupType = "OKTA_GROUP"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("00g")
	g := &group{members: map[string]bool{}}
	g.g.ID, g.g.Type, g.g.Profile.Name = id, groupType, name
	s.groups[id] = g
	s.notifyLocked()
	return id
}

// AddToGroup makes a user a member of a group, logging
// group.user_membership.add.
func (s *Server) AddToGroup(userID, groupID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	g, gok := s.groups[groupID]
	if !ok || !gok {
		return fmt.Errorf("oktatest: AddToGroup(%s, %s): no such user or group", userID, groupID)
	}
	s.addMemberLocked(u, g, "admin@oktatest.invalid")
	s.notifyLocked()
	return nil
}

// InGroup reports whether the user is a member of the group.
func (s *Server) InGroup(userID, groupID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[groupID]
	return ok && g.members[userID]
}

// AddSession starts a session for the user, logging user.session.start
// from ip, and returns the session id.
func (s *Server) AddSession(userID, ip string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return "", fmt.Errorf("oktatest: no user %q", userID)
	}
	sid := s.newID("idx")
	u.sessions = append(u.sessions, sid)
	ev := okta.LogEvent{EventType: okta.EventSessionStart, DisplayMessage: "User login to Okta", Severity: "INFO",
		Actor:                 userActor(u),
		Outcome:               &okta.Outcome{Result: "SUCCESS"},
		Client:                &okta.LogClient{IPAddress: ip, Device: "Computer"},
		AuthenticationContext: &okta.AuthenticationContext{ExternalSessionID: sid},
		Target:                []okta.Actor{{ID: "0oa00000000000000001", Type: "AppInstance", AlternateID: "Okta Dashboard", DisplayName: "Okta Dashboard"}},
	}
	s.logLocked(ev)
	s.notifyLocked()
	return sid, nil
}

// Sessions returns the number of a user's active sessions.
func (s *Server) Sessions(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userID]; ok {
		return len(u.sessions)
	}
	return 0
}

// AddOAuthClient registers a service app: its client id, the public key
// of its private_key_jwt (an *rsa.PublicKey, *ecdsa.PublicKey or a
// jose.JSONWebKey) and the scopes granted to it.
func (s *Server) AddOAuthClient(clientID string, publicKey any, scopes ...string) {
	if jwk, ok := publicKey.(jose.JSONWebKey); ok {
		publicKey = jwk.Key
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = &oauthClient{key: publicKey, scopes: slices.Clone(scopes)}
}

// AddLogEvent appends an event to the System Log, filling uuid and
// published (the emulator's now) when empty, and returns it as stored.
func (s *Server) AddLogEvent(ev okta.LogEvent) okta.LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev = s.logLocked(ev)
	s.notifyLocked()
	return ev
}

// LogEvents returns the System Log, oldest first.
func (s *Server) LogEvents() []okta.LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs)
}

// SetRateLimit sets the per-window limit of one op's bucket.
func (s *Server) SetRateLimit(op string, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[op] = limit
}

// InjectError makes the next request to op fail with status and an Okta
// error body carrying code and summary, once.
func (s *Server) InjectError(op string, status int, code, summary string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{op: op, status: status, code: code, summary: summary})
}

// InjectThrottle makes the next request to op fail with 429 E0000047, its
// bucket exhausted until X-Rate-Limit-Reset, retryAfter from now rounded
// up to whole seconds (requests before then get 429 too).
func (s *Server) InjectThrottle(op string, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{op: op, status: http.StatusTooManyRequests, code: okta.CodeRateLimited, retryAfter: retryAfter})
}

// Writes returns the number of requests that changed the org's state.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Requests returns every request answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// CountRequests returns how many answered requests were to op with status
// (0 means any status).
func (s *Server) CountRequests(op string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Op == op && (status == 0 || r.Status == status) {
			n++
		}
	}
	return n
}

// --- System Log ---

func userActor(u *user) okta.Actor {
	return okta.Actor{ID: u.u.ID, Type: "User", AlternateID: u.u.Profile.Login, DisplayName: u.u.Profile.Name()}
}

func (s *Server) logLocked(ev okta.LogEvent) okta.LogEvent {
	if ev.UUID == "" {
		ev.UUID = fmt.Sprintf("%08x-0000-4000-8000-%012x", s.seq+len(s.logs), len(s.logs)+1)
	}
	if ev.Published.IsZero() {
		now := time.Now().UTC().Truncate(time.Millisecond)
		if !now.After(s.lastPub) {
			now = s.lastPub.Add(time.Millisecond)
		}
		ev.Published = now
	}
	if ev.Published.After(s.lastPub) {
		s.lastPub = ev.Published
	}
	if ev.Version == "" {
		ev.Version = "0"
	}
	if ev.Severity == "" {
		ev.Severity = "INFO"
	}
	if ev.Transaction == nil {
		ev.Transaction = &okta.Transaction{Type: "WEB", ID: fmt.Sprintf("tx%d", len(s.logs)+1)}
	}
	raw, err := json.Marshal(ev)
	if err == nil {
		ev.Raw = raw
	}
	s.logs = append(s.logs, ev)
	return ev
}

func (s *Server) adminEvent(eventType, msg, actor string, targets ...okta.Actor) okta.LogEvent {
	return okta.LogEvent{EventType: eventType, DisplayMessage: msg, Actor: okta.Actor{ID: "00uadmin", Type: "User", AlternateID: actor, DisplayName: "Administrator"},
		Outcome: &okta.Outcome{Result: "SUCCESS"}, Target: targets}
}

// ceilSecond rounds t up to a whole second, as X-Rate-Limit-Reset is.
func ceilSecond(t time.Time) time.Time {
	if t.Equal(t.Truncate(time.Second)) {
		return t
	}
	return t.Truncate(time.Second).Add(time.Second)
}

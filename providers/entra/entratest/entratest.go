package entratest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Well-known role template ids the emulator's tenant has built in. A
// built-in role definition's id equals its template id, as in Entra.
const (
	GlobalAdministrator         = "62e90394-69f5-4237-9190-012177145e10"
	PrivilegedRoleAdministrator = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	UserAdministrator           = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	SecurityReader              = "5d6b6bb7-de71-4623-b4af-96380a352509"
	HelpdeskAdministrator       = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
)

var builtinRoles = []RoleDefinition{
	{ID: GlobalAdministrator, TemplateID: GlobalAdministrator, DisplayName: "Global Administrator"},
	{ID: PrivilegedRoleAdministrator, TemplateID: PrivilegedRoleAdministrator, DisplayName: "Privileged Role Administrator"},
	{ID: UserAdministrator, TemplateID: UserAdministrator, DisplayName: "User Administrator"},
	{ID: SecurityReader, TemplateID: SecurityReader, DisplayName: "Security Reader"},
	{ID: HelpdeskAdministrator, TemplateID: HelpdeskAdministrator, DisplayName: "Helpdesk Administrator"},
}

// Options configure an Emulator. The zero value works: tenant
// "contoso.example" id DefaultTenantID, tokens valid for an hour, Identity
// Protection limited to one request per second.
type Options struct {
	// TenantID is the tenant's id. Default DefaultTenantID.
	TenantID string
	// TenantDomain is accepted in the token URL in place of the id.
	// Default "contoso.example".
	TenantDomain string
	// TokenLifetime is how long issued access tokens live. Default 3599s
	// (what Entra answers).
	TokenLifetime time.Duration
	// IdentityProtectionInterval is the minimum spacing between Identity
	// Protection requests of the tenant; closer requests get 429 without
	// Retry-After. Default one second. Negative disables the limit.
	IdentityProtectionInterval time.Duration
	// ThrottleTolerance forgives requests that arrive this much early
	// (network jitter between a paced client and the emulator). Default
	// 50ms.
	ThrottleTolerance time.Duration
	// Now is the emulator's clock. Default time.Now.
	Now func() time.Time
}

// DefaultTenantID is the tenant id of an emulator without Options.TenantID.
const DefaultTenantID = "8e1f5a3c-2b7d-4c0e-9f61-3a5d7c9b0e42"

// User is a directory user. Fields without a comment hold the Graph user
// property of the same name.
type User struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	Mail              string
	Department        string
	JobTitle          string
	// ManagerID is the id of the user's manager, if any.
	ManagerID string
	// Disabled is the inverse of Graph's accountEnabled.
	Disabled        bool
	CreatedDateTime time.Time
	// Sessions is the number of live sign-in sessions (refresh tokens);
	// revokeSignInSessions sets it to zero.
	Sessions int
	// SignInSessionsValidFrom is set by revokeSignInSessions.
	SignInSessionsValidFrom time.Time
}

// Group is a security group. ID, DisplayName and IsAssignableToRole hold
// the Graph group properties of the same name.
type Group struct {
	ID                 string
	DisplayName        string
	IsAssignableToRole bool
	// Members are the ids of direct members (users or groups).
	Members []string
}

// RoleDefinition is a directory role: its id, its template id (the
// same in every tenant for built-in roles) and its display name.
type RoleDefinition struct {
	ID          string
	TemplateID  string
	DisplayName string
}

// RoleAssignment is a unifiedRoleAssignment: its id, the principal (user
// or group) holding the role, the role definition and the scope ("/").
type RoleAssignment struct {
	ID               string
	PrincipalID      string
	RoleDefinitionID string
	DirectoryScopeID string
}

// RiskyUser is a user's Identity Protection state. ID is the user's id;
// LastUpdated is riskLastUpdatedDateTime; the rest hold the Graph
// riskyUser properties of the same name.
type RiskyUser struct {
	ID          string
	RiskLevel   string // low, medium, high, hidden, none
	RiskState   string // atRisk, confirmedCompromised, dismissed, remediated, confirmedSafe, none
	RiskDetail  string
	LastUpdated time.Time
	IsDeleted   bool
}

// Fault is a failure the emulator returns instead of serving a request.
type Fault struct {
	// Method and PathContains select the requests (empty matches all);
	// PathContains is matched against the path after /v1.0. The token
	// endpoint is never selected.
	Method       string
	PathContains string
	// Status is the HTTP status (429, 403, 503, ...).
	Status int
	// Code and Message fill the Graph error body. Default code by
	// status: TooManyRequests, Authorization_RequestDenied,
	// serviceNotAvailable, generalException.
	Code    string
	Message string
	// RetryAfter is the Retry-After header, verbatim ("2.128"); empty
	// sends none.
	RetryAfter string
	// Times is how many matching requests fail. Default 1.
	Times int
}

// Request is one request the emulator served, for tests to inspect: when
// it arrived (by Options.Now), its method, path, raw query and the status
// answered.
type Request struct {
	Time     time.Time
	Method   string
	Path     string // after /v1.0 for Graph; the full path for the token endpoint
	RawQuery string
	Status   int
	// ClientID is the app the access token was issued to (Graph) or the
	// client_id (token endpoint).
	ClientID string
}

// Emulator is an in-memory Microsoft Graph tenant with its token endpoint.
// It serves Graph under /v1.0 and the token endpoint under
// /{tenant}/oauth2/v2.0/token, with Graph's status codes, bodies, paging
// (@odata.nextLink with $skiptoken) and throttling. Serve it with Start
// (a real httptest server) or Client (in-process, for testing/synctest
// bubbles, where real sockets would keep the bubble from going idle).
//
// All methods are safe for concurrent use. Seeding methods report bad
// input with an error.
type Emulator struct {
	opts Options

	mu          sync.Mutex
	base        string // set by Start; "http://entratest.invalid" otherwise
	srv         *httptest.Server
	apps        map[string]*app
	tokens      map[string]token
	jtis        map[string]bool
	users       map[string]*User
	groups      map[string]*Group
	roles       map[string]RoleDefinition
	assignments map[string]RoleAssignment
	risky       map[string]*RiskyUser
	detections  []record
	signIns     []record
	audits      []record
	faults      []*Fault
	requests    []Request
	writes      int
	lastIP      time.Time
}

type app struct {
	secret  []byte
	cert    *x509.Certificate
	revoked bool
}

type token struct {
	clientID string
	expires  time.Time
	revoked  bool
}

// record is a log record kept as raw JSON, with what filters need.
type record struct {
	id     string
	at     time.Time
	userID string
	raw    json.RawMessage
}

// New returns an emulator with the built-in roles and no users.
func New(opts Options) *Emulator {
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.TenantDomain == "" {
		opts.TenantDomain = "contoso.example"
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 3599 * time.Second
	}
	if opts.IdentityProtectionInterval == 0 {
		opts.IdentityProtectionInterval = time.Second
	}
	if opts.ThrottleTolerance == 0 {
		opts.ThrottleTolerance = 50 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Emulator{opts: opts, base: "http://entratest.invalid", apps: map[string]*app{}, tokens: map[string]token{}, jtis: map[string]bool{},
		users: map[string]*User{}, groups: map[string]*Group{}, roles: map[string]RoleDefinition{},
		assignments: map[string]RoleAssignment{}, risky: map[string]*RiskyUser{}}
	for _, r := range builtinRoles {
		e.roles[r.ID] = r
	}
	return e
}

// Start serves the emulator on a real loopback httptest server and
// returns its URL. Call Close when done. Start twice returns the same URL.
func (e *Emulator) Start() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil {
		e.srv = httptest.NewServer(e)
		e.base = e.srv.URL
	}
	return e.base
}

// Close stops the server Start started, if any.
func (e *Emulator) Close() {
	e.mu.Lock()
	srv := e.srv
	e.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Client returns an HTTP client that serves requests in-process, without
// sockets, whatever the URL's host. Use it inside testing/synctest bubbles.
func (e *Emulator) Client() *http.Client {
	return &http.Client{Transport: roundTripper{e}}
}

type roundTripper struct{ e *Emulator }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	rt.e.ServeHTTP(rec, req)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// TenantID returns the tenant's id.
func (e *Emulator) TenantID() string { return e.opts.TenantID }

// GraphURL returns the Graph base URL (with /v1.0) clients should use.
func (e *Emulator) GraphURL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.base + "/v1.0"
}

// TokenURL returns the tenant's token endpoint.
func (e *Emulator) TokenURL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.base + "/" + e.opts.TenantID + "/oauth2/v2.0/token"
}

// NewID returns a random GUID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// AddSecretApp registers an application that authenticates with a client
// secret.
func (e *Emulator) AddSecretApp(clientID, secret string) error {
	if clientID == "" || secret == "" {
		return errors.New("entratest: AddSecretApp needs a client id and a secret")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.apps[clientID] = &app{secret: []byte(secret)}
	return nil
}

// AddCertificateApp registers an application that authenticates with a
// client assertion signed by cert's key.
func (e *Emulator) AddCertificateApp(clientID string, cert *x509.Certificate) error {
	if clientID == "" || cert == nil {
		return errors.New("entratest: AddCertificateApp needs a client id and a certificate")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.apps[clientID] = &app{cert: cert}
	return nil
}

// RevokeApp removes an application's credentials and invalidates its
// tokens: token requests fail with invalid_client and Graph answers 401.
func (e *Emulator) RevokeApp(clientID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.apps[clientID]; ok {
		a.revoked = true
	}
	for k, t := range e.tokens {
		if t.clientID == clientID {
			t.revoked = true
			e.tokens[k] = t
		}
	}
}

// ExpireTokens makes every access token issued so far expired, as if its
// lifetime had passed (clients that cache tokens see a 401).
func (e *Emulator) ExpireTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	past := e.opts.Now().Add(-time.Second)
	for k, t := range e.tokens {
		t.expires = past
		e.tokens[k] = t
	}
}

// TokensIssued returns how many access tokens the endpoint has issued.
func (e *Emulator) TokensIssued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tokens)
}

// AddUser adds u. An empty ID gets a new GUID; UserPrincipalName is
// required and unique. It returns the id.
func (e *Emulator) AddUser(u User) (string, error) {
	if u.UserPrincipalName == "" {
		return "", errors.New("entratest: AddUser: UserPrincipalName is required")
	}
	if u.ID == "" {
		u.ID = NewID()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.users[u.ID]; ok {
		return "", fmt.Errorf("entratest: AddUser: user %s exists", u.ID)
	}
	for _, x := range e.users {
		if strings.EqualFold(x.UserPrincipalName, u.UserPrincipalName) {
			return "", fmt.Errorf("entratest: AddUser: userPrincipalName %s is taken", u.UserPrincipalName)
		}
	}
	if u.CreatedDateTime.IsZero() {
		u.CreatedDateTime = e.opts.Now().UTC()
	}
	e.users[u.ID] = &u
	return u.ID, nil
}

// User returns a copy of the user with id (or UPN) and whether it exists.
func (e *Emulator) User(id string) (User, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userLocked(id)
	if u == nil {
		return User{}, false
	}
	return *u, true
}

func (e *Emulator) userLocked(ref string) *User {
	if u, ok := e.users[ref]; ok {
		return u
	}
	for _, u := range e.users {
		if strings.EqualFold(u.UserPrincipalName, ref) {
			return u
		}
	}
	return nil
}

// AddGroup adds g. An empty ID gets a new GUID. It returns the id.
func (e *Emulator) AddGroup(g Group) (string, error) {
	if g.DisplayName == "" {
		return "", errors.New("entratest: AddGroup: DisplayName is required")
	}
	if g.ID == "" {
		g.ID = NewID()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.groups[g.ID]; ok {
		return "", fmt.Errorf("entratest: AddGroup: group %s exists", g.ID)
	}
	g.Members = slices.Clone(g.Members)
	e.groups[g.ID] = &g
	return g.ID, nil
}

// AddMember makes member (a user or group id) a direct member of group.
func (e *Emulator) AddMember(group, member string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[group]
	if !ok {
		return fmt.Errorf("entratest: AddMember: no group %s", group)
	}
	if e.users[member] == nil && e.groups[member] == nil {
		return fmt.Errorf("entratest: AddMember: no user or group %s", member)
	}
	if !slices.Contains(g.Members, member) {
		g.Members = append(g.Members, member)
	}
	return nil
}

// IsMember reports whether member is a direct member of group.
func (e *Emulator) IsMember(group, member string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[group]
	return ok && slices.Contains(g.Members, member)
}

// AddRoleDefinition adds a custom role. An empty ID gets a new GUID; an
// empty TemplateID is the ID.
func (e *Emulator) AddRoleDefinition(r RoleDefinition) (string, error) {
	if r.DisplayName == "" {
		return "", errors.New("entratest: AddRoleDefinition: DisplayName is required")
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	if r.TemplateID == "" {
		r.TemplateID = r.ID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.roles[r.ID] = r
	return r.ID, nil
}

// AssignRole assigns the role definition roleID to principal (a user or
// group id) at scope "/" and returns the assignment id.
func (e *Emulator) AssignRole(principal, roleID string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.users[principal] == nil && e.groups[principal] == nil {
		return "", fmt.Errorf("entratest: AssignRole: no user or group %s", principal)
	}
	if _, ok := e.roles[roleID]; !ok {
		return "", fmt.Errorf("entratest: AssignRole: no role definition %s", roleID)
	}
	a := RoleAssignment{ID: NewID(), PrincipalID: principal, RoleDefinitionID: roleID, DirectoryScopeID: "/"}
	e.assignments[a.ID] = a
	return a.ID, nil
}

// HasRole reports whether principal holds a direct assignment of the role
// whose id, template id or display name is role.
func (e *Emulator) HasRole(principal, role string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.assignments {
		if a.PrincipalID != principal {
			continue
		}
		d := e.roles[a.RoleDefinitionID]
		if strings.EqualFold(d.ID, role) || strings.EqualFold(d.TemplateID, role) || strings.EqualFold(d.DisplayName, role) {
			return true
		}
	}
	return false
}

// SetRiskyUser sets a user's Identity Protection state.
func (e *Emulator) SetRiskyUser(r RiskyUser) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.users[r.ID] == nil {
		return fmt.Errorf("entratest: SetRiskyUser: no user %s", r.ID)
	}
	if r.LastUpdated.IsZero() {
		r.LastUpdated = e.opts.Now().UTC()
	}
	e.risky[r.ID] = &r
	return nil
}

// RiskyUserState returns a user's Identity Protection state.
func (e *Emulator) RiskyUserState(id string) (RiskyUser, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.risky[id]
	if !ok {
		return RiskyUser{}, false
	}
	return *r, true
}

// FailNext makes the next f.Times requests that f selects fail with f.
func (e *Emulator) FailNext(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &f)
}

// Requests returns the requests served so far, in order.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.requests)
}

// Writes returns how many state-changing Graph requests (POST, PATCH,
// DELETE) the emulator has received, whatever their outcome.
func (e *Emulator) Writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
}

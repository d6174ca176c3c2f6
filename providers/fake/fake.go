package fake

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// DefaultName is the provider name a Provider uses when WithName is not given.
const DefaultName = "fake"

// TagBreakGlass is the user tag that marks a protected (break-glass)
// account: RiskEnricher sets Facts.Protected for users carrying it.
const TagBreakGlass = "break-glass"

// User is an account in the fake directory. The zero value, given an ID, is
// an enabled standard user with no risk.
type User struct {
	// ID is the immutable account id. Required and unique.
	ID string
	// Login is the sign-in name; unique when set.
	Login       string
	Email       string
	DisplayName string
	Department  string
	JobTitle    string
	Manager     string
	// Disabled is true for a disabled (suspended) account. The zero value
	// is an enabled account.
	Disabled bool
	// Tags are labels such as "executive" or TagBreakGlass.
	Tags []string
	// Risk is the user's risk state at the provider's risk engine.
	Risk playbook.RiskLevel
	// Compromised is true once the user was confirmed compromised.
	Compromised bool
	// CredentialVersion counts credential resets.
	CredentialVersion int
	// MustResetPassword is true when the password is expired and must be
	// changed at the next sign-in.
	MustResetPassword bool
	// CreatedAt is when the account was created.
	CreatedAt time.Time
}

func (u User) clone() User {
	u.Tags = slices.Clone(u.Tags)
	return u
}

// RoleDef defines a role in the fake directory.
type RoleDef struct {
	// ID is the role's id. Required and unique.
	ID string `json:"id"`
	// Name is the display name. Required.
	Name string `json:"name"`
	// Template is the stable role type id (an Entra template id, an Okta
	// role type). Optional.
	Template string `json:"template,omitempty"`
	// Privileged makes holders of the role privileged (RolesEnricher).
	Privileged bool `json:"privileged,omitempty"`
}

// Assignment is one role held by a user.
type Assignment struct {
	// ID is the assignment's id, unique in the directory.
	ID string `json:"id"`
	// Role is the assigned role's definition.
	Role RoleDef `json:"role"`
	// Scope limits the assignment; "/" is the whole directory.
	Scope string `json:"scope"`
}

// GroupDef defines a group in the fake directory.
type GroupDef struct {
	// ID is the group's id. Required and unique.
	ID string `json:"id"`
	// Name is the display name. Required.
	Name string `json:"name"`
	// Privileged makes members privileged (GroupsEnricher).
	Privileged bool `json:"privileged,omitempty"`
}

// BuiltinRoles returns the roles every new Provider defines: three
// privileged Entra-style administrator roles and one reader role, with
// their real Entra template ids. The slice is a fresh copy.
func BuiltinRoles() []RoleDef {
	return []RoleDef{
		{ID: "global-admin", Name: "Global Administrator", Template: "62e90394-69f5-4237-9190-012177145e10", Privileged: true},
		{ID: "user-admin", Name: "User Administrator", Template: "fe930be7-5e62-47db-91af-98c3a49a38b1", Privileged: true},
		{ID: "helpdesk-admin", Name: "Helpdesk Administrator", Template: "729827e3-9c14-49f7-bb1b-9608f156bbb8", Privileged: true},
		{ID: "directory-reader", Name: "Directory Readers", Template: "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"},
	}
}

// Option configures a Provider.
type Option func(*config)

type config struct {
	name    string
	seed    uint64
	now     func() time.Time
	noCalls bool
}

// WithName sets the provider name reported in Subject.Provider, in
// ProviderError.Provider and accepted in requests. An empty name keeps
// DefaultName.
func WithName(name string) Option {
	return func(c *config) {
		if name != "" {
			c.name = name
		}
	}
}

// WithSeed seeds the random source behind Faults.ErrorRate, so that a run
// with the same seed and the same sequence of calls fails the same calls.
// The default seed is 1.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithNow sets the clock that stamps Call.Time. The default is time.Now
// (which testing/synctest fakes). A nil function keeps the default.
func WithNow(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithoutCallLog stops the provider from recording calls, for long-running
// benchmarks: Calls and Writes then return nil, while CallCount and
// WriteCount keep counting.
func WithoutCallLog() Option { return func(c *config) { c.noCalls = true } }

// Provider is an in-memory identity provider: a directory of users, roles,
// groups, sessions and sign-ins, with the provider's enrichers, actions and
// triggers, scripted fault injection and a log of every call.
//
// A Provider is safe for concurrent use. Readers return copies; values
// passed to seeding methods are copied. Seeding methods change the
// directory directly and are neither logged nor subject to faults; the
// enrichers and actions are the provider's API and are both.
type Provider struct {
	name    string
	now     func() time.Time
	noCalls bool
	actions map[string]playbook.Action

	mu     sync.Mutex
	users  map[string]*userState
	logins map[string]string // lower-case login → user id
	roles  map[string]RoleDef
	groups map[string]GroupDef
	keys   map[string]keyRecord
	// issued holds every assignment id ever made, removed ones included,
	// so that removing an assignment twice by id is already-applied.
	issued map[string]bool
	faults map[string]*faultState
	// faulty is true while faults holds any entry: calls on a provider
	// without faults skip the lock in inject.
	faulty  atomic.Bool
	rng     *rand.Rand
	calls   []Call
	counts  map[string]*opCount
	nextSeq int
}

type userState struct {
	user        User
	assignments []Assignment
	groups      []string // group ids, in insertion order
	sessions    []playbook.Session
	signIns     []playbook.SignIn
}

// New returns an empty Provider that defines BuiltinRoles.
func New(opts ...Option) *Provider {
	cfg := config{name: DefaultName, seed: 1, now: time.Now}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	p := &Provider{
		name:    cfg.name,
		now:     cfg.now,
		noCalls: cfg.noCalls,
		users:   make(map[string]*userState),
		logins:  make(map[string]string),
		roles:   make(map[string]RoleDef),
		groups:  make(map[string]GroupDef),
		keys:    make(map[string]keyRecord),
		issued:  make(map[string]bool),
		faults:  make(map[string]*faultState),
		counts:  make(map[string]*opCount),
		rng:     rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)),
	}
	for _, r := range BuiltinRoles() {
		p.roles[r.ID] = r
	}
	p.actions = p.newActions()
	return p
}

// Name returns the provider name.
func (p *Provider) Name() string { return p.name }

// Subject returns the subject for user id as this provider names it,
// filling Login and DisplayName when the user exists.
func (p *Provider) Subject(id string) playbook.Subject {
	s := playbook.Subject{Provider: p.name, ID: id}
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.users[id]; ok {
		s.Login, s.DisplayName = u.user.Login, u.user.DisplayName
	}
	return s
}

// AddUser adds u to the directory. It fails when u.ID is empty, the ID or
// Login is taken, or u.Risk is out of range.
func (p *Provider) AddUser(u User) error {
	if strings.TrimSpace(u.ID) == "" {
		return fmt.Errorf("fake: AddUser: User.ID is required")
	}
	if u.Risk < playbook.RiskNone || u.Risk > playbook.RiskHigh {
		return fmt.Errorf("fake: AddUser %q: User.Risk %d is out of range", u.ID, int(u.Risk))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.users[u.ID]; ok {
		return fmt.Errorf("fake: AddUser: user id %q already exists", u.ID)
	}
	if u.Login != "" {
		if other, ok := p.logins[strings.ToLower(u.Login)]; ok {
			return fmt.Errorf("fake: AddUser %q: login %q is taken by user %q", u.ID, u.Login, other)
		}
		p.logins[strings.ToLower(u.Login)] = u.ID
	}
	p.users[u.ID] = &userState{user: u.clone()}
	return nil
}

// UpdateUser calls fn with a copy of user id's record and stores the result.
// fn must not change the ID; a changed ID, a Login taken by another user or
// an out-of-range Risk is an error and nothing is stored. fn runs with the
// provider locked and must not call the provider.
func (p *Provider) UpdateUser(id string, fn func(u *User)) error {
	if fn == nil {
		return fmt.Errorf("fake: UpdateUser %q: fn is nil", id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[id]
	if !ok {
		return fmt.Errorf("fake: UpdateUser: %w: user %q", playbook.ErrNotFound, id)
	}
	u := st.user.clone()
	fn(&u)
	if u.ID != id {
		return fmt.Errorf("fake: UpdateUser %q: fn changed the ID to %q", id, u.ID)
	}
	if u.Risk < playbook.RiskNone || u.Risk > playbook.RiskHigh {
		return fmt.Errorf("fake: UpdateUser %q: Risk %d is out of range", id, int(u.Risk))
	}
	if !strings.EqualFold(u.Login, st.user.Login) {
		if u.Login != "" {
			if other, ok := p.logins[strings.ToLower(u.Login)]; ok && other != id {
				return fmt.Errorf("fake: UpdateUser %q: login %q is taken by user %q", id, u.Login, other)
			}
			p.logins[strings.ToLower(u.Login)] = id
		}
		if st.user.Login != "" {
			delete(p.logins, strings.ToLower(st.user.Login))
		}
	}
	st.user = u
	return nil
}

// SetRisk sets user id's risk level at the provider's risk engine.
func (p *Provider) SetRisk(id string, level playbook.RiskLevel) error {
	return p.UpdateUser(id, func(u *User) { u.Risk = level })
}

// DefineRole adds or replaces a role definition. ID and Name are required.
// Existing assignments of a replaced role keep the definition they were
// made with.
func (p *Provider) DefineRole(r RoleDef) error {
	if strings.TrimSpace(r.ID) == "" || strings.TrimSpace(r.Name) == "" {
		return fmt.Errorf("fake: DefineRole: RoleDef.ID and RoleDef.Name are required (got id %q, name %q)", r.ID, r.Name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.roles[r.ID] = r
	return nil
}

// DefineGroup adds or replaces a group definition. ID and Name are required.
func (p *Provider) DefineGroup(g GroupDef) error {
	if strings.TrimSpace(g.ID) == "" || strings.TrimSpace(g.Name) == "" {
		return fmt.Errorf("fake: DefineGroup: GroupDef.ID and GroupDef.Name are required (got id %q, name %q)", g.ID, g.Name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.groups[g.ID] = g
	return nil
}

// AssignRole assigns the role that role names (its ID, Name or Template) to
// user userID at scope ("" means "/") and returns the assignment. Assigning
// a role the user already holds at that scope returns the existing
// assignment. Unknown users and roles are errors wrapping
// playbook.ErrNotFound.
func (p *Provider) AssignRole(userID, role, scope string) (Assignment, error) {
	if scope == "" {
		scope = "/"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[userID]
	if !ok {
		return Assignment{}, fmt.Errorf("fake: AssignRole: %w: user %q", playbook.ErrNotFound, userID)
	}
	def, ok := p.findRoleLocked(role)
	if !ok {
		return Assignment{}, fmt.Errorf("fake: AssignRole: %w: role %q is not defined", playbook.ErrNotFound, role)
	}
	for _, a := range st.assignments {
		if a.Role.ID == def.ID && a.Scope == scope {
			return a, nil
		}
	}
	p.nextSeq++
	a := Assignment{ID: fmt.Sprintf("ra-%d", p.nextSeq), Role: def, Scope: scope}
	st.assignments = append(st.assignments, a)
	p.issued[a.ID] = true
	return a, nil
}

// AddToGroup makes user userID a member of the group that group names (its
// ID or Name). Adding an existing member does nothing. Unknown users and
// groups are errors wrapping playbook.ErrNotFound.
func (p *Provider) AddToGroup(userID, group string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[userID]
	if !ok {
		return fmt.Errorf("fake: AddToGroup: %w: user %q", playbook.ErrNotFound, userID)
	}
	g, ok := p.findGroupLocked(group)
	if !ok {
		return fmt.Errorf("fake: AddToGroup: %w: group %q is not defined", playbook.ErrNotFound, group)
	}
	if !slices.Contains(st.groups, g.ID) {
		st.groups = append(st.groups, g.ID)
	}
	return nil
}

// AddSession gives user userID an active session and returns its id. An
// empty s.ID is replaced by a generated one; an ID the user already has is
// an error.
func (p *Provider) AddSession(userID string, s playbook.Session) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[userID]
	if !ok {
		return "", fmt.Errorf("fake: AddSession: %w: user %q", playbook.ErrNotFound, userID)
	}
	if s.ID == "" {
		p.nextSeq++
		s.ID = fmt.Sprintf("sess-%d", p.nextSeq)
	}
	if slices.ContainsFunc(st.sessions, func(x playbook.Session) bool { return x.ID == s.ID }) {
		return "", fmt.Errorf("fake: AddSession: user %q already has session %q", userID, s.ID)
	}
	st.sessions = append(st.sessions, s)
	return s.ID, nil
}

// AddSignIn records a sign-in of user userID. An empty s.ID is replaced by
// a generated one. s.Risk must be a valid level.
func (p *Provider) AddSignIn(userID string, s playbook.SignIn) error {
	if s.Risk < playbook.RiskNone || s.Risk > playbook.RiskHigh {
		return fmt.Errorf("fake: AddSignIn %q: SignIn.Risk %d is out of range", userID, int(s.Risk))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[userID]
	if !ok {
		return fmt.Errorf("fake: AddSignIn: %w: user %q", playbook.ErrNotFound, userID)
	}
	if s.ID == "" {
		p.nextSeq++
		s.ID = fmt.Sprintf("si-%d", p.nextSeq)
	}
	st.signIns = append(st.signIns, s)
	return nil
}

// User returns a copy of user id's record and whether the user exists.
func (p *Provider) User(id string) (User, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[id]
	if !ok {
		return User{}, false
	}
	return st.user.clone(), true
}

// Roles returns a copy of user id's role assignments, in the order they
// were made; nil for an unknown user.
func (p *Provider) Roles(id string) []Assignment {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.users[id]; ok {
		return slices.Clone(st.assignments)
	}
	return nil
}

// HasRole reports whether user id holds the role that role names (a role
// ID, Name or Template, or an assignment ID).
func (p *Provider) HasRole(id, role string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[id]
	return ok && slices.ContainsFunc(st.assignments, func(a Assignment) bool { return matchAssignment(a, role) })
}

// Groups returns the definitions of the groups user id belongs to, in the
// order they were joined; nil for an unknown user.
func (p *Provider) Groups(id string) []GroupDef {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[id]
	if !ok {
		return nil
	}
	out := make([]GroupDef, 0, len(st.groups))
	for _, gid := range st.groups {
		out = append(out, p.groups[gid])
	}
	return out
}

// InGroup reports whether user id is a member of the group that group
// names (its ID or Name).
func (p *Provider) InGroup(id, group string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.users[id]
	if !ok {
		return false
	}
	g, ok := p.findGroupLocked(group)
	return ok && slices.Contains(st.groups, g.ID)
}

// Sessions returns a copy of user id's active sessions; nil for an unknown
// user.
func (p *Provider) Sessions(id string) []playbook.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.users[id]; ok {
		return slices.Clone(st.sessions)
	}
	return nil
}

// SignIns returns a copy of user id's sign-ins in the order they were
// added; nil for an unknown user.
func (p *Provider) SignIns(id string) []playbook.SignIn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.users[id]; ok {
		return slices.Clone(st.signIns)
	}
	return nil
}

// findRoleLocked resolves a role reference: ID, then Name
// (case-insensitive), then Template.
func (p *Provider) findRoleLocked(ref string) (RoleDef, bool) {
	if r, ok := p.roles[ref]; ok {
		return r, true
	}
	if ref == "" {
		return RoleDef{}, false
	}
	for _, r := range p.roles {
		if strings.EqualFold(r.Name, ref) || (r.Template != "" && strings.EqualFold(r.Template, ref)) {
			return r, true
		}
	}
	return RoleDef{}, false
}

// findGroupLocked resolves a group reference: ID, then Name
// (case-insensitive).
func (p *Provider) findGroupLocked(ref string) (GroupDef, bool) {
	if g, ok := p.groups[ref]; ok {
		return g, true
	}
	if ref == "" {
		return GroupDef{}, false
	}
	for _, g := range p.groups {
		if strings.EqualFold(g.Name, ref) {
			return g, true
		}
	}
	return GroupDef{}, false
}

// matchAssignment reports whether ref names assignment a: its ID, or its
// role's ID, Name or Template.
func matchAssignment(a Assignment, ref string) bool {
	if ref == "" {
		return false
	}
	return a.ID == ref || a.Role.ID == ref || strings.EqualFold(a.Role.Name, ref) ||
		(a.Role.Template != "" && strings.EqualFold(a.Role.Template, ref))
}

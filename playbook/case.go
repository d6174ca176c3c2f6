package playbook

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Privilege is the subject's privilege level, derived from roles and groups
// by an enricher. The zero value, PrivilegeUnknown, means no enricher
// established it; policies must treat it as possibly privileged.
type Privilege int

// Privilege levels.
const (
	PrivilegeUnknown Privilege = iota
	PrivilegeStandard
	PrivilegePrivileged
)

var privilegeNames = [...]string{"unknown", "standard", "privileged"}

// String returns "unknown", "standard" or "privileged".
func (p Privilege) String() string {
	if p < PrivilegeUnknown || p > PrivilegePrivileged {
		return fmt.Sprintf("Privilege(%d)", int(p))
	}
	return privilegeNames[p]
}

// MarshalText encodes the level as its name.
func (p Privilege) MarshalText() ([]byte, error) {
	if p < PrivilegeUnknown || p > PrivilegePrivileged {
		return nil, fmt.Errorf("playbook: invalid privilege %d", int(p))
	}
	return []byte(privilegeNames[p]), nil
}

// UnmarshalText decodes a name produced by MarshalText.
func (p *Privilege) UnmarshalText(b []byte) error {
	for i, n := range privilegeNames {
		if n == string(b) {
			*p = Privilege(i)
			return nil
		}
	}
	return fmt.Errorf("playbook: unknown privilege %q", b)
}

// Profile is the subject's directory profile.
type Profile struct {
	// ID is the provider's immutable account id.
	ID string `json:"id"`
	// Login is the sign-in name (UPN, username).
	Login string `json:"login,omitempty"`
	// Email is the primary e-mail address, which may differ from Login.
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Department  string `json:"department,omitempty"`
	JobTitle    string `json:"job_title,omitempty"`
	// Manager identifies the subject's manager (id or login).
	Manager string `json:"manager,omitempty"`
	// Enabled is false for a disabled or suspended account.
	Enabled bool `json:"enabled"`
	// Status is the provider's own account status (Okta's ACTIVE,
	// SUSPENDED, ...), when it has one.
	Status     string    `json:"status,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	LastSignIn time.Time `json:"last_sign_in,omitzero"`
}

// Role is a directory or admin role held by the subject.
type Role struct {
	// ID identifies the assignment or the role, as the provider names it.
	ID string `json:"id"`
	// Name is the role's display name ("Global Administrator").
	Name string `json:"name"`
	// Template is the provider's stable role type id (Entra role template
	// id, Okta role type such as SUPER_ADMIN).
	Template string `json:"template,omitempty"`
	// Scope limits the assignment ("/" for the whole directory).
	Scope string `json:"scope,omitempty"`
}

// Group is a group the subject belongs to.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// SignIn is one recent authentication of the subject. Success is false for
// a failed attempt; Risk is the provider's score of that sign-in.
type SignIn struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	IP       string    `json:"ip,omitempty"`
	Location string    `json:"location,omitempty"`
	App      string    `json:"app,omitempty"`
	Success  bool      `json:"success"`
	Risk     RiskLevel `json:"risk"`
}

// Session is one active session of the subject, as far as the provider
// reports it (Device and IP may be empty).
type Session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	LastActive time.Time `json:"last_active,omitzero"`
	Device     string    `json:"device,omitempty"`
	IP         string    `json:"ip,omitempty"`
}

// EnrichmentFailure records an enricher that failed.
type EnrichmentFailure struct {
	Enricher string `json:"enricher"`
	Error    string `json:"error"`
	Required bool   `json:"required"`
}

// Facts are the standard facts gathered about a case's subject. A nil or
// empty field means "not known", not "none": Profile is nil until an
// enricher loads it, and Failures says which enrichers could not run.
type Facts struct {
	Profile   *Profile  `json:"profile,omitempty"`
	Privilege Privilege `json:"privilege"`
	Roles     []Role    `json:"roles,omitempty"`
	// RolesLoaded says a role enricher ran and Roles is complete: an
	// empty Roles then means "holds no role", not "not known".
	RolesLoaded bool      `json:"roles_loaded,omitempty"`
	Groups      []Group   `json:"groups,omitempty"`
	SignIns     []SignIn  `json:"sign_ins,omitempty"`
	Sessions    []Session `json:"sessions,omitempty"`
	// Risk is the subject's current risk state at the provider, which may
	// be higher than the triggering event's.
	Risk RiskLevel `json:"risk"`
	// Protected marks a break-glass or otherwise protected account, which
	// is never contained automatically.
	Protected bool `json:"protected,omitempty"`
	// Tags are labels such as "executive" or "service-account".
	Tags []string `json:"tags,omitempty"`
	// Failures lists enrichers that failed; policies can see which facts
	// are missing.
	Failures []EnrichmentFailure `json:"failures,omitempty"`
}

// HasTag reports whether tag is among Tags.
func (f *Facts) HasTag(tag string) bool { return slices.Contains(f.Tags, tag) }

// Clone returns a deep copy of f.
func (f Facts) Clone() Facts {
	if f.Profile != nil {
		p := *f.Profile
		f.Profile = &p
	}
	f.Roles = slices.Clone(f.Roles)
	f.Groups = slices.Clone(f.Groups)
	f.SignIns = slices.Clone(f.SignIns)
	f.Sessions = slices.Clone(f.Sessions)
	f.Tags = slices.Clone(f.Tags)
	f.Failures = slices.Clone(f.Failures)
	return f
}

// Case is what the runner knows about one run: the triggering event, the
// facts enrichers gathered, and typed extension values.
//
// Concurrency: enrichers run in parallel on the same Case. They read with
// Snapshot or Get and write only through Update or Key.Set, which serialize.
// Once enrichment has finished the runner hands the Case to the policy and
// actions read-only; reading Facts directly is safe from then on.
type Case struct {
	// RunID is the id of the run the case belongs to.
	RunID string
	// Event is the triggering event. It must not be modified.
	Event Event
	// Now is the run's notion of the present: the time the decision stage
	// started, journaled so that replaying a run reproduces its decision.
	// Policies must read time from here, not from the clock.
	Now time.Time
	// Facts are the standard facts. Write them through Update while
	// enrichers may be running.
	Facts Facts

	mu  sync.RWMutex
	ext map[string]any
}

// NewCase returns a case for ev in run runID.
func NewCase(runID string, ev Event) *Case {
	return &Case{RunID: runID, Event: ev}
}

// Subject returns the event's subject.
func (c *Case) Subject() Subject { return c.Event.Subject }

// Update calls fn with exclusive access to the facts. Enrichers use it to
// record what they found. fn must not call other methods of c.
func (c *Case) Update(fn func(f *Facts)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.Facts)
}

// Snapshot returns a deep copy of the facts, safe to read while enrichers
// are still writing.
func (c *Case) Snapshot() Facts {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.Facts.Clone()
}

// RecordFailure appends an enrichment failure to the facts.
func (c *Case) RecordFailure(enricher string, err error, required bool) {
	c.Update(func(f *Facts) {
		f.Failures = append(f.Failures, EnrichmentFailure{Enricher: enricher, Error: err.Error(), Required: required})
	})
}

// Extensions returns the extension values by key name, for journaling and
// audit. Values restored from a journal that no Key has read yet are
// json.RawMessage.
func (c *Case) Extensions() map[string]any {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]any, len(c.ext))
	for k, v := range c.ext {
		out[k] = v
	}
	return out
}

// RestoreExtensions installs extension values read back from a journal.
// Each value stays raw JSON until a Key of the right type reads it.
func (c *Case) RestoreExtensions(raw map[string]json.RawMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ext == nil {
		c.ext = make(map[string]any, len(raw))
	}
	for k, v := range raw {
		c.ext[k] = v
	}
}

// Key is a typed handle to a host-defined fact stored on a Case. Create keys
// once, at package level, with NewKey; two keys with the same name address
// the same value, so names should be qualified ("acme.hr_record").
//
// Values must be JSON-encodable so that the runner can journal and audit
// them.
type Key[T any] struct{ name string }

// NewKey returns a key for facts of type T under name.
func NewKey[T any](name string) Key[T] {
	if name == "" {
		panic("playbook: NewKey with an empty name")
	}
	return Key[T]{name: name}
}

// Name returns the key's name.
func (k Key[T]) Name() string { return k.name }

// Set stores v on the case. Safe for concurrent use.
func (k Key[T]) Set(c *Case, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ext == nil {
		c.ext = make(map[string]any)
	}
	c.ext[k.name] = v
}

// Get returns the value stored under the key and whether one is present
// with type T. A value restored from a journal is decoded from JSON on first
// read; a value that does not decode into T reports false.
func (k Key[T]) Get(c *Case) (T, bool) {
	var zero T
	c.mu.RLock()
	v, ok := c.ext[k.name]
	c.mu.RUnlock()
	if !ok {
		return zero, false
	}
	if t, ok := v.(T); ok {
		return t, true
	}
	raw, ok := v.(json.RawMessage)
	if !ok {
		return zero, false
	}
	var t T
	if err := json.Unmarshal(raw, &t); err != nil {
		return zero, false
	}
	c.mu.Lock()
	c.ext[k.name] = t
	c.mu.Unlock()
	return t, true
}

// AuditVerbatim marks Facts as free of secrets by construction (typed
// directory facts), so that audit redaction keeps it as it is.
func (Facts) AuditVerbatim() {}

// AuditVerbatim marks Subject as free of secrets by construction.
func (Subject) AuditVerbatim() {}

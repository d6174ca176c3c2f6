package decide

import (
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Defaults of the containment budget that DefaultPolicy applies.
const (
	DefaultBudgetMax    = 10
	DefaultBudgetWindow = time.Hour
)

// DefaultPolicy returns the policy a playbook should start from:
//
//	Budget(Protect(Matrix(MatrixConfig{PrivilegedRoles: DefaultPrivilegedRoles()}), ProtectConfig{}),
//	       BudgetConfig{Max: DefaultBudgetMax, Window: DefaultBudgetWindow})
//
// that is, the default risk × privilege matrix deriving privilege from the
// default privileged roles as well as from c.Facts.Privilege; accounts
// marked protected or tagged DefaultProtectedTag escalated instead of
// contained; and at most DefaultBudgetMax automatic containments per hour,
// the rest turned into approval requests. Each call returns a policy with
// its own budget. It implements playbook.ActionNamer.
func DefaultPolicy() playbook.Policy {
	p, err := defaultPolicy()
	if err != nil {
		// The configuration above is fixed and covered by tests.
		panic(fmt.Sprintf("decide: default policy: %v", err))
	}
	return p
}

func defaultPolicy() (playbook.Policy, error) {
	m, err := Matrix(MatrixConfig{PrivilegedRoles: DefaultPrivilegedRoles()})
	if err != nil {
		return nil, err
	}
	p, err := Protect(m, ProtectConfig{})
	if err != nil {
		return nil, err
	}
	return Budget(p, BudgetConfig{Max: DefaultBudgetMax, Window: DefaultBudgetWindow})
}

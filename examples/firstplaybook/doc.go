// Command firstplaybook is the smallest complete playbook: risky sign-ins
// are enriched from the identity provider, decided by the risk × privilege
// matrix, and contained (or sent for approval) through the provider's
// actions, with every step in the audit trail. The README walks through it;
// main_test.go tests it with playbooktest.
package main

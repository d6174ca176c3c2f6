package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzCommandLine feeds arbitrary command lines to the tool on a real
// database: whatever the words, it must end with one of its exit statuses
// and say why it failed, never panic. Words naming another database or
// asking to wait are left out, so that the fuzzer touches only the
// fixture's file and stays fast.
func FuzzCommandLine(f *testing.F) {
	for _, seed := range []string{
		"runs list", "runs list --state done", "runs list --state bogus --limit -1", "--json runs list --subject entra:gus",
		"runs show " + runDone, "runs show " + runWaiting + ":approval --json", "runs show --audit testdata/trail.jsonl " + runDone,
		"runs show", "runs show a b", "approvals list", "approvals list --json extra",
		"approve " + runWaiting + " --by " + lead, "deny " + runWaiting + " --by " + lead + " --reason no",
		"approve " + runWaiting + " --by " + gusLogin, "approve :approval --by x", "deny " + runOverdue + " --by x",
		"audit verify testdata/trail.jsonl", "audit verify --head 00 testdata/trail.jsonl", "audit verify", "audit",
		"--json", "-h", "help", "runs --state", "approve --by", "--by x approve", "= -- -",
	} {
		f.Add(seed)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		for _, a := range args {
			if strings.Contains(a, "db") || strings.Contains(a, "wait") {
				t.Skip()
			}
		}
		code, out, errOut := invoke(t.Context(), map[string]string{envDB: fx.db}, args...)
		assert.Contains(t, []int{exitOK, exitFail, exitUsage}, code)
		if code != exitOK {
			assert.NotEmpty(t, errOut, "a failure says why")
			assert.True(t, strings.HasPrefix(errOut, "iamplaybook: "), errOut)
		}
		_ = out
	})
}

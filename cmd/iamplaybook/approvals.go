package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// approvalSummary is one line of `approvals list --json`.
type approvalSummary struct {
	ApprovalID  string             `json:"approval_id"`
	RunID       string             `json:"run_id"`
	Subject     string             `json:"subject"`
	Risk        playbook.RiskLevel `json:"risk"`
	Response    playbook.Response  `json:"response"`
	Rule        string             `json:"rule"`
	Actions     []string           `json:"actions"`
	RequestedAt time.Time          `json:"requested_at"`
	Deadline    time.Time          `json:"deadline"`
	// Votes are the verdicts already counted (a quorum not yet reached).
	Votes []playbook.Verdict `json:"votes"`
	// Queued counts verdicts posted and not yet applied by a runner.
	Queued      int    `json:"queued"`
	Summary     string `json:"summary"`
	SummaryHash string `json:"summary_hash"`
}

func (c *cli) approvalsList(ctx context.Context, args []string) error {
	fs := c.flagSet("approvals list")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("approvals list", pos); err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := playbook.PendingApprovals(ctx, st, 0)
	if err != nil {
		return fmt.Errorf("listing approvals: %w", err)
	}
	queued, err := st.InboxVerdicts(ctx, 0)
	if err != nil {
		return fmt.Errorf("reading the verdict inbox: %w", err)
	}
	out := make([]approvalSummary, 0, len(runs))
	for _, r := range runs {
		req := r.Approval.Request
		s := approvalSummary{
			ApprovalID: req.ID, RunID: r.ID, Subject: r.Subject, Risk: req.Risk,
			Response: req.Decision.Response, Rule: req.Decision.Rule, Actions: []string{},
			RequestedAt: req.RequestedAt, Deadline: req.Deadline,
			Votes: slices.Clone(r.Approval.Verdicts), Summary: req.Summary, SummaryHash: req.SummaryHash,
		}
		if s.Votes == nil {
			s.Votes = []playbook.Verdict{}
		}
		for _, st := range req.Decision.Steps {
			s.Actions = append(s.Actions, st.Action)
		}
		for _, q := range queued {
			if q.Verdict.ApprovalID == req.ID {
				s.Queued++
			}
		}
		out = append(out, s)
	}
	if c.json {
		return c.printJSON(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(c.stdout, "no approvals waiting")
		return nil
	}
	now := c.now()
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APPROVAL\tSUBJECT\tRISK\tACTIONS\tREQUESTED\tDEADLINE\tVOTES\tQUEUED")
	for _, s := range out {
		left := "overdue"
		if d := s.Deadline.Sub(now); d > 0 {
			left = "in " + d.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s (%s)\t%d\t%d\n", s.ApprovalID, s.Subject, s.Risk,
			orDash(strings.Join(s.Actions, ",")), timeFmt(s.RequestedAt), timeFmt(s.Deadline), left, len(s.Votes), s.Queued)
	}
	return tw.Flush()
}

// verdictResult is the output of approve and deny with --json.
type verdictResult struct {
	ApprovalID string `json:"approval_id"`
	RunID      string `json:"run_id"`
	Seq        int64  `json:"seq"`
	Approver   string `json:"approver"`
	Approve    bool   `json:"approve"`
	// Status is "queued" without --wait; with it, "approved", "denied",
	// "expired" (the approval's status once the runner applied the
	// verdict), "counted" (accepted, more votes needed) or "refused".
	Status string `json:"status"`
	// RunState and Outcome are the run's, read after the wait.
	RunState playbook.RunState `json:"run_state,omitempty"`
	Outcome  playbook.Outcome  `json:"outcome,omitempty"`
}

// verdict implements approve (ok true) and deny (ok false).
func (c *cli) verdict(ctx context.Context, cmd string, args []string, ok bool) error {
	fs := c.flagSet(cmd)
	by := fs.String("by", "", "who gives the verdict (required)")
	reason := fs.String("reason", "", "why (required to deny)")
	wait := fs.Bool("wait", false, "wait until a runner has applied the verdict")
	timeout := fs.Duration("timeout", 30*time.Second, "how long --wait waits")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos, "ID"); err != nil {
		return err
	}
	approver := strings.TrimSpace(*by)
	switch {
	case approver == "":
		return usagef("%s: --by NAME is required: say who gives the verdict", cmd)
	case !ok && strings.TrimSpace(*reason) == "":
		return usagef("deny: --reason is required: say why the containment is refused")
	case *timeout <= 0:
		return usagef("%s: --timeout must be positive", cmd)
	}
	approvalID := pos[0]
	if !strings.HasSuffix(approvalID, ":approval") {
		approvalID = playbook.ApprovalID(approvalID) // a run id
	}
	runID := strings.TrimSuffix(approvalID, ":approval")

	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := st.GetRun(ctx, runID)
	if errors.Is(err, playbook.ErrRunNotFound) || (err == nil && r.Approval == nil) {
		return fmt.Errorf("%w: no approval %q in %s (see `iamplaybook approvals list`)", playbook.ErrApprovalNotFound, pos[0], c.db)
	}
	if err != nil {
		return fmt.Errorf("reading approval %q: %w", approvalID, err)
	}
	now := c.now().UTC()
	queued, err := st.InboxVerdicts(ctx, 0)
	if err != nil {
		return fmt.Errorf("reading the verdict inbox: %w", err)
	}
	if err := checkVerdict(r, approver, now, queued); err != nil {
		return err
	}
	approvalID = r.Approval.Request.ID
	v := playbook.Verdict{
		ApprovalID: approvalID, Approver: approver, Approve: ok, Reason: strings.TrimSpace(*reason),
		Channel: "cli", SummaryHash: r.Approval.Request.SummaryHash, At: now,
	}
	seq, err := st.PostVerdict(ctx, v)
	if err != nil {
		return fmt.Errorf("posting the verdict: %w", err)
	}
	res := verdictResult{ApprovalID: approvalID, RunID: runID, Seq: seq, Approver: approver, Approve: ok, Status: "queued"}
	if !c.json {
		fmt.Fprintf(c.stdout, "%s verdict by %s on %s queued (inbox #%d).\n", verdictWord(ok), approver, approvalID, seq)
		fmt.Fprintf(c.stdout, "The case the verdict answers:\n%s", indent(r.Approval.Request.Summary))
	}
	if !*wait {
		if c.json {
			return c.printJSON(res)
		}
		fmt.Fprintln(c.stdout, "A runner on this database applies it within its inbox poll; a runner started later applies it too, as given now.")
		return nil
	}
	res, err = c.waitVerdict(ctx, st, res, *timeout)
	if c.json {
		if perr := c.printJSON(res); perr != nil {
			return perr
		}
	} else if err == nil {
		c.printOutcome(res)
	}
	return err
}

// checkVerdict refuses, before posting, what the runner would refuse and
// the CLI can tell from the store. The runner checks again when it applies
// the verdict (and applies the playbook's approval rules, which the CLI
// does not know).
func checkVerdict(r playbook.Run, approver string, now time.Time, queued []playbook.InboxVerdict) error {
	a := r.Approval
	id := a.Request.ID
	switch {
	case a.Status != playbook.ApprovalPending:
		msg := fmt.Sprintf("%s is %s", id, a.Status)
		if !a.DecidedAt.IsZero() {
			msg += " since " + timeFmt(a.DecidedAt)
		}
		if n := len(a.Verdicts); n > 0 && a.Status != playbook.ApprovalExpired {
			msg += " by " + a.Verdicts[n-1].Approver
		}
		return fmt.Errorf("%w: %s", playbook.ErrApprovalClosed, msg)
	case !now.Before(a.Request.Deadline):
		return fmt.Errorf("%w: the deadline of %s was %s; the runner escalates the run", playbook.ErrApprovalExpired, id, timeFmt(a.Request.Deadline))
	case r.Event.Subject.Matches(approver) || slices.ContainsFunc(a.Request.Identities, func(n string) bool { return strings.EqualFold(strings.TrimSpace(n), approver) }):
		return fmt.Errorf("%w: %q is the subject of the case", playbook.ErrSelfApproval, approver)
	case r.Event.Actor != "" && strings.EqualFold(strings.TrimSpace(r.Event.Actor), approver):
		return fmt.Errorf("%w: %q caused the event", playbook.ErrSelfApproval, approver)
	}
	for _, v := range a.Verdicts {
		if strings.EqualFold(v.Approver, approver) {
			return fmt.Errorf("%w: %q has already voted on %s (%s at %s)", playbook.ErrInvalidVerdict, approver, id, verdictWord(v.Approve), timeFmt(v.At))
		}
	}
	for _, q := range queued {
		if q.Verdict.ApprovalID == id && strings.EqualFold(q.Verdict.Approver, approver) {
			return fmt.Errorf("%w: %q already has a verdict on %s queued (inbox #%d), not yet applied by a runner", playbook.ErrInvalidVerdict, approver, id, q.Seq)
		}
	}
	return nil
}

// waitVerdict polls until the posted verdict has left the inbox, then reads
// what became of it.
func (c *cli) waitVerdict(ctx context.Context, st storeDB, res verdictResult, timeout time.Duration) (verdictResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		items, err := st.InboxVerdicts(ctx, 0)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return res, fmt.Errorf("reading the verdict inbox: %w", err)
		}
		if !slices.ContainsFunc(items, func(it playbook.InboxVerdict) bool { return it.Seq == res.Seq }) {
			return c.verdictFate(ctx, st, res)
		}
		t := time.NewTimer(c.poll)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
		return res, err
	}
	return res, fmt.Errorf("no runner applied the verdict within %s; it stays queued (inbox #%d) and counts, as given, when a runner reads the inbox", timeout, res.Seq)
}

// verdictFate reads the approval after a runner took the verdict from the
// inbox: it was counted (and maybe settled the approval) or refused.
func (c *cli) verdictFate(ctx context.Context, st storeDB, res verdictResult) (verdictResult, error) {
	r, err := st.GetRun(ctx, res.RunID)
	if err != nil {
		return res, fmt.Errorf("reading approval %q: %w", res.ApprovalID, err)
	}
	res.RunState, res.Outcome = r.State, r.Outcome
	a := r.Approval
	counted := slices.ContainsFunc(a.Verdicts, func(v playbook.Verdict) bool {
		return strings.EqualFold(v.Approver, res.Approver) && v.Approve == res.Approve && v.Channel == "cli"
	})
	switch {
	case !counted:
		res.Status = "refused"
		return res, fmt.Errorf("the runner refused the verdict on %s (approval is %s); the audit trail's approval.verdict_rejected record says why", res.ApprovalID, a.Status)
	case a.Status == playbook.ApprovalPending:
		res.Status = "counted"
		return res, nil
	}
	res.Status = string(a.Status)
	// The approval is settled; give the run the rest of the wait to reach
	// its outcome, and report where it stands if it has not.
	for r.State != playbook.RunDone {
		t := time.NewTimer(c.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, nil
		case <-t.C:
		}
		r, err = st.GetRun(ctx, res.RunID)
		if err != nil {
			if ctx.Err() != nil {
				return res, nil
			}
			return res, fmt.Errorf("reading run %q: %w", res.RunID, err)
		}
		res.RunState, res.Outcome = r.State, r.Outcome
	}
	return res, nil
}

func (c *cli) printOutcome(res verdictResult) {
	switch res.Status {
	case "counted":
		fmt.Fprintf(c.stdout, "The runner counted the verdict; %s still waits for more votes.\n", res.ApprovalID)
	default:
		fmt.Fprintf(c.stdout, "The runner applied the verdict: %s is %s; run %s is %s", res.ApprovalID, res.Status, res.RunID, res.RunState)
		if res.Outcome != "" {
			fmt.Fprintf(c.stdout, " (%s)", res.Outcome)
		}
		fmt.Fprintln(c.stdout, ".")
	}
}

func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString("  ")
		b.WriteString(line)
	}
	if !strings.HasSuffix(s, "\n") && s != "" {
		b.WriteString("\n")
	}
	return b.String()
}

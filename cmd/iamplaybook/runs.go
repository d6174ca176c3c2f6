package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// runSummary is one line of `runs list --json`.
type runSummary struct {
	ID        string                  `json:"id"`
	State     playbook.RunState       `json:"state"`
	Outcome   playbook.Outcome        `json:"outcome,omitempty"`
	Subject   string                  `json:"subject"`
	EventID   string                  `json:"event_id"`
	EventType playbook.EventType      `json:"event_type"`
	Risk      playbook.RiskLevel      `json:"risk"`
	Approval  playbook.ApprovalStatus `json:"approval,omitempty"`
	DryRun    bool                    `json:"dry_run,omitempty"`
	Error     string                  `json:"error,omitempty"`
	CreatedAt time.Time               `json:"created_at"`
	UpdatedAt time.Time               `json:"updated_at"`
}

func summarize(r playbook.Run) runSummary {
	s := runSummary{
		ID: r.ID, State: r.State, Outcome: r.Outcome, Subject: r.Subject,
		EventID: r.Event.ID, EventType: r.Event.Type, Risk: r.Event.Risk,
		DryRun: r.DryRun, Error: r.Error, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.Approval != nil {
		s.Approval = r.Approval.Status
	}
	return s
}

var runStates = []playbook.RunState{playbook.RunPending, playbook.RunRunning, playbook.RunWaiting, playbook.RunDone}

func (c *cli) runsList(ctx context.Context, args []string) error {
	fs := c.flagSet("runs list")
	state := fs.String("state", "", "only runs in `STATE` (pending, running, waiting, done)")
	subject := fs.String("subject", "", "only runs about `SUBJECT` (provider:id)")
	limit := fs.Int("limit", 0, "at most `N` runs (0: all)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("runs list", pos); err != nil {
		return err
	}
	f := playbook.RunFilter{State: playbook.RunState(*state), Subject: *subject, Limit: *limit}
	if f.State != "" && !validState(f.State) {
		return usagef("runs list: --state %q is not one of pending, running, waiting, done", *state)
	}
	if f.Limit < 0 {
		return usagef("runs list: --limit %d is negative", f.Limit)
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.ListRuns(ctx, f)
	if err != nil {
		return fmt.Errorf("listing runs: %w", err)
	}
	out := make([]runSummary, len(runs))
	for i, r := range runs {
		out[i] = summarize(r)
	}
	if c.json {
		return c.printJSON(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(c.stdout, "no runs")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATE\tOUTCOME\tSUBJECT\tEVENT\tRISK\tCREATED\tUPDATED")
	for _, s := range out {
		state := string(s.State)
		if s.Approval != "" && s.State == playbook.RunWaiting {
			state += " (approval " + string(s.Approval) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, state, orDash(string(s.Outcome)), s.Subject,
			s.EventType, s.Risk, timeFmt(s.CreatedAt), timeFmt(s.UpdatedAt))
	}
	return tw.Flush()
}

func validState(s playbook.RunState) bool {
	for _, v := range runStates {
		if s == v {
			return true
		}
	}
	return false
}

// runDetail is the output of `runs show --json`.
type runDetail struct {
	Run   playbook.Run          `json:"run"`
	Steps []playbook.StepRecord `json:"steps"`
	// Audit is set with --audit: the run's records from the trail.
	Audit *auditExcerpt `json:"audit,omitempty"`
}

type auditExcerpt struct {
	File     string         `json:"file"`
	Verified bool           `json:"verified"`
	Error    string         `json:"error,omitempty"`
	Records  []audit.Record `json:"records"`
}

func (c *cli) runsShow(ctx context.Context, args []string) error {
	fs := c.flagSet("runs show")
	auditFile := fs.String("audit", "", "also show the run's records from the audit trail `FILE`")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("runs show", pos, "RUN_ID"); err != nil {
		return err
	}
	id := pos[0]
	if runID, ok := strings.CutSuffix(id, ":approval"); ok && runID != "" {
		id = runID
	}
	var key []byte
	if *auditFile != "" {
		if key, err = c.auditKey(); err != nil {
			return err
		}
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := st.GetRun(ctx, id)
	if errors.Is(err, playbook.ErrRunNotFound) {
		return fmt.Errorf("no run %q in %s", id, c.db)
	}
	if err != nil {
		return fmt.Errorf("reading run %q: %w", id, err)
	}
	steps, err := st.Steps(ctx, id)
	if err != nil {
		return fmt.Errorf("reading the journal of run %q: %w", id, err)
	}
	d := runDetail{Run: r, Steps: steps}
	if d.Steps == nil {
		d.Steps = []playbook.StepRecord{}
	}
	var verifyErr error
	if *auditFile != "" {
		ex, err := readRunAudit(*auditFile, key, id)
		if err != nil {
			return err
		}
		d.Audit = ex
		if !ex.Verified {
			verifyErr = fmt.Errorf("audit trail %s does not verify: %s", *auditFile, ex.Error)
		}
	}
	if c.json {
		if err := c.printJSON(d); err != nil {
			return err
		}
		return verifyErr
	}
	c.printRun(d)
	return verifyErr
}

// readRunAudit verifies the trail at path and returns the records of run
// runID. A chain that does not verify is reported in the excerpt, with the
// records read up to the damage, not as an error: the operator still sees
// what is there.
func readRunAudit(path string, key []byte, runID string) (*auditExcerpt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	defer f.Close()
	ex := &auditExcerpt{File: path, Records: []audit.Record{}}
	if _, verr := audit.Verify(f, audit.VerifyOptions{HMACKey: key}); verr != nil {
		ex.Error = verr.Error()
	} else {
		ex.Verified = true
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("audit trail %s: %w", path, err)
	}
	recs, rerr := audit.ReadJSONL(f)
	if rerr != nil && ex.Verified {
		// Verified but not decodable as records: not a trail of ours.
		return nil, fmt.Errorf("audit trail %s: %w", path, rerr)
	}
	for _, rec := range recs {
		if rec.RunID == runID {
			ex.Records = append(ex.Records, rec)
		}
	}
	return ex, nil
}

func (c *cli) printRun(d runDetail) {
	r, w := d.Run, c.stdout
	fmt.Fprintf(w, "Run %s\n", r.ID)
	state := string(r.State)
	if r.Outcome != "" {
		state += ", outcome " + string(r.Outcome)
	}
	if r.DryRun {
		state += " (dry run)"
	}
	fmt.Fprintf(w, "  state:     %s\n", state)
	fmt.Fprintf(w, "  subject:   %s", r.Subject)
	if r.Event.Subject.Login != "" {
		fmt.Fprintf(w, " (%s)", r.Event.Subject.Login)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  event:     %s %s from %s, risk %s", r.Event.ID, r.Event.Type, orDash(r.Event.Source), r.Event.Risk)
	if r.Event.Actor != "" {
		fmt.Fprintf(w, ", actor %s", r.Event.Actor)
	}
	if r.Event.Reason != "" {
		fmt.Fprintf(w, ", %s", r.Event.Reason)
	}
	fmt.Fprintln(w)
	if dd := r.Decision; dd != nil {
		fmt.Fprintf(w, "  decision:  %s by rule %s", dd.Response, dd.Rule)
		if acts := stepNames(dd.Steps); acts != "" {
			fmt.Fprintf(w, ": %s", acts)
		}
		fmt.Fprintln(w)
	}
	if a := r.Approval; a != nil {
		fmt.Fprintf(w, "  approval:  %s %s, deadline %s", a.Request.ID, a.Status, timeFmt(a.Request.Deadline))
		if !a.DecidedAt.IsZero() {
			fmt.Fprintf(w, ", decided %s", timeFmt(a.DecidedAt))
		}
		fmt.Fprintln(w)
		for _, v := range a.Verdicts {
			fmt.Fprintf(w, "             %s by %s via %s at %s", verdictWord(v.Approve), v.Approver, v.Channel, timeFmt(v.At))
			if v.Reason != "" {
				fmt.Fprintf(w, ": %s", v.Reason)
			}
			fmt.Fprintln(w)
		}
		if a.Status == playbook.ApprovalPending && a.Request.Summary != "" {
			fmt.Fprintf(w, "  the case approvers see:\n%s", indent(indent(a.Request.Summary)))
		}
	}
	if r.Ticket != "" {
		fmt.Fprintf(w, "  ticket:    %s\n", r.Ticket)
	}
	if r.Undo != nil {
		fmt.Fprintf(w, "  undone:    by %s at %s (complete: %t) %s\n", r.Undo.By, timeFmt(r.Undo.At), r.Undo.Complete, r.Undo.Reason)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error:     %s\n", r.Error)
	}
	fmt.Fprintf(w, "  created:   %s, updated %s\n", timeFmt(r.CreatedAt), timeFmt(r.UpdatedAt))

	fmt.Fprintln(w, "\nSteps")
	if len(d.Steps) == 0 {
		fmt.Fprintln(w, "  (none journaled)")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  STEP\tKIND\tSTATUS\tATTEMPT\tSTARTED\tENDED\tTOOK\tERROR")
		for _, s := range d.Steps {
			took := "-"
			if !s.EndedAt.IsZero() {
				took = s.EndedAt.Sub(s.StartedAt).Round(time.Millisecond).String()
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.StepID, s.Kind, s.Status, s.Attempt,
				timeFmtMilli(s.StartedAt), timeFmtMilli(s.EndedAt), took, orDash(oneLine(s.Error)))
		}
		_ = tw.Flush()
	}

	if ex := d.Audit; ex != nil {
		status := "chain verified"
		if !ex.Verified {
			status = "CHAIN DOES NOT VERIFY: " + ex.Error
		}
		fmt.Fprintf(w, "\nAudit records in %s (%s)\n", ex.File, status)
		if len(ex.Records) == 0 {
			fmt.Fprintln(w, "  (none for this run)")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SEQ\tTIME\tTYPE\tACTOR\tSTEP\tOUTCOME\tERROR")
		for _, rec := range ex.Records {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", strconv.FormatUint(rec.Seq, 10), timeFmtMilli(rec.Time), rec.Type,
				orDash(rec.Actor), orDash(rec.Step), orDash(rec.Outcome), orDash(oneLine(rec.Error)))
		}
		_ = tw.Flush()
	}
}

func stepNames(steps []playbook.Step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Action
		if len(s.Params) > 0 {
			names[i] += fmt.Sprint(s.Params)
		}
	}
	return strings.Join(names, ", ")
}

func verdictWord(approve bool) string {
	if approve {
		return "approved"
	}
	return "denied"
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

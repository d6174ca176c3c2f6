package slackapprove

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Action ids of the buttons on a request message.
const (
	ActionApprove = "iamplaybook.approve"
	ActionDeny    = "iamplaybook.deny"
)

// blockID names the actions block of a request message.
const blockID = "iamplaybook.approval"

// Block Kit limits.
const (
	maxSectionText = 3000
	maxFieldText   = 2000
	maxButtonValue = 2000
	maxFallback    = 500
)

// buttonValue is what a request's buttons carry back: which request, and
// the summary the person saw.
type buttonValue struct {
	ApprovalID  string `json:"approval_id"`
	SummaryHash string `json:"summary_hash,omitempty"`
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = " … (truncated)"
	if n < 2*len(mark) {
		return strings.ToValidUTF8(s[:max(n, 0)], "")
	}
	s = s[:n-len(mark)]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + mark
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func subjectName(s playbook.Subject) string {
	name := s.Login
	if name == "" {
		name = s.DisplayName
	}
	if name == "" {
		name = s.ID
	}
	if s.Provider != "" {
		name += " (" + s.Provider + ")"
	}
	return name
}

func stepsText(d playbook.Decision) string {
	if len(d.Steps) == 0 {
		return "none"
	}
	parts := make([]string, len(d.Steps))
	for i, st := range d.Steps {
		parts[i] = st.Action
		if len(st.Params) > 0 {
			b, _ := json.Marshal(st.Params)
			parts[i] += " " + string(b)
		}
	}
	return strings.Join(parts, ", ")
}

// caseBlocks describe the request: its summary and key facts. All text is
// plain text, so that nothing from the case is read as Slack markup
// (mentions such as <!channel>, links).
func caseBlocks(r playbook.ApprovalRequest) []slack.Block {
	summary := r.Summary
	if strings.TrimSpace(summary) == "" {
		summary = "(no summary)"
	}
	fields := []*slack.TextBlockObject{
		plain(clip("Subject\n"+subjectName(r.Subject), maxFieldText)),
		plain(clip("Risk\n"+r.Risk.String(), maxFieldText)),
		plain(clip("Steps if approved\n"+stepsText(r.Decision), maxFieldText)),
		plain("Deadline\n" + r.Deadline.UTC().Format(time.RFC3339) + " (denied if nobody decides)"),
		plain(clip("Rule\n"+r.Decision.Rule, maxFieldText)),
		plain(clip("Request\n"+r.ID, maxFieldText)),
	}
	return []slack.Block{
		slack.NewSectionBlock(plain(clip(summary, maxSectionText)), nil, nil),
		slack.NewSectionBlock(nil, fields, nil),
	}
}

// requestBlocks builds the interactive message for r, with an optional
// note on top, and its notification text.
func requestBlocks(r playbook.ApprovalRequest, note string) ([]slack.Block, string, error) {
	v, err := json.Marshal(buttonValue{ApprovalID: r.ID, SummaryHash: r.SummaryHash})
	if err != nil {
		return nil, "", fmt.Errorf("slackapprove: encoding the buttons of %s: %w", r.ID, err)
	}
	if len(v) > maxButtonValue {
		return nil, "", fmt.Errorf("slackapprove: approval id %q is too long for a Slack button (%d bytes, limit %d)", clip(r.ID, 64), len(v), maxButtonValue)
	}
	approveBtn := slack.NewButtonBlockElement(ActionApprove, string(v), plain("Approve")).
		WithStyle(slack.StylePrimary).
		WithConfirm(slack.NewConfirmationBlockObject(plain("Approve containment?"),
			plain(clip("These steps will run against "+subjectName(r.Subject)+": "+stepsText(r.Decision), 300)),
			plain("Approve"), plain("Cancel")))
	denyBtn := slack.NewButtonBlockElement(ActionDeny, string(v), plain("Deny")).WithStyle(slack.StyleDanger)

	blocks := []slack.Block{slack.NewHeaderBlock(plain("Approval needed"))}
	if note != "" {
		blocks = append(blocks, slack.NewContextBlock("", plain(clip(note, maxFieldText))))
	}
	blocks = append(blocks, caseBlocks(r)...)
	blocks = append(blocks, slack.NewActionBlock(blockID, approveBtn, denyBtn))
	text := clip("Approval needed for "+subjectName(r.Subject)+": "+firstLine(r.Summary), maxFallback)
	return blocks, text, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// outcomeBlocks builds the message that replaces a request once settled:
// the case, the outcome and who decided, and no buttons.
func outcomeBlocks(n playbook.ApprovalNotice) ([]slack.Block, string) {
	r := n.Request
	var head, line string
	switch n.Status {
	case playbook.ApprovalApproved:
		head = "Approved"
		line = "Approved by " + deciders(n.Verdicts, true) + "."
	case playbook.ApprovalDenied:
		head = "Denied"
		line = "Denied by " + deciders(n.Verdicts, false) + ". The case was escalated for manual handling."
	case playbook.ApprovalExpired:
		head = "Expired"
		line = "Nobody decided before " + r.Deadline.UTC().Format(time.RFC3339) + ". The request was denied and the case escalated."
	default:
		head = "Closed (" + string(n.Status) + ")"
		line = "The request is " + string(n.Status) + "."
	}
	var votes strings.Builder
	for _, v := range n.Verdicts {
		verb := "denied"
		if v.Approve {
			verb = "approved"
		}
		fmt.Fprintf(&votes, "%s %s at %s via %s", v.Approver, verb, v.At.UTC().Format(time.RFC3339), v.Channel)
		if v.Reason != "" {
			fmt.Fprintf(&votes, ": %s", v.Reason)
		}
		votes.WriteByte('\n')
	}
	blocks := []slack.Block{slack.NewHeaderBlock(plain(head))}
	blocks = append(blocks, caseBlocks(r)...)
	blocks = append(blocks, slack.NewSectionBlock(plain(clip(line, maxSectionText)), nil, nil))
	if votes.Len() > 0 {
		blocks = append(blocks, slack.NewContextBlock("", plain(clip(strings.TrimSpace(votes.String()), maxFieldText))))
	}
	text := clip(head+": "+subjectName(r.Subject)+". "+line, maxFallback)
	return blocks, text
}

// deciders names who voted the way the request was settled, or "nobody".
func deciders(vs []playbook.Verdict, approve bool) string {
	var names []string
	for _, v := range vs {
		if v.Approve == approve {
			names = append(names, v.Approver)
		}
	}
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, ", ")
}

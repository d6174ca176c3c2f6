package slackapprove

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// SignatureWindow is how far the signed X-Slack-Request-Timestamp of an
// interaction request may be from now, either way. A request outside it is
// refused as a possible replay.
const SignatureWindow = 5 * time.Minute

// Channel is the Verdict.Channel of verdicts given through Slack.
const Channel = "slack"

// VerifyRequest checks that body, received with header at now, was signed
// by Slack with secret: X-Slack-Signature must be "v0=" and the hex
// HMAC-SHA256 of "v0:" + X-Slack-Request-Timestamp + ":" + body, compared
// in constant time, and the timestamp must be within SignatureWindow of
// now. It returns an error wrapping ErrBadSignature or ErrStaleRequest; the
// error never contains the secret or the expected signature.
func VerifyRequest(secret []byte, header http.Header, body []byte, now time.Time) error {
	tsText := header.Get("X-Slack-Request-Timestamp")
	sig := header.Get("X-Slack-Signature")
	if tsText == "" || sig == "" {
		return fmt.Errorf("%w: X-Slack-Request-Timestamp or X-Slack-Signature is missing", ErrBadSignature)
	}
	if len(secret) == 0 {
		return fmt.Errorf("%w: no signing secret is configured", ErrBadSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts <= 0 || len(tsText) > 19 {
		return fmt.Errorf("%w: X-Slack-Request-Timestamp is not a Unix time", ErrBadSignature)
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return fmt.Errorf("%w: X-Slack-Signature is not a v0 signature", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: X-Slack-Signature is not a hex SHA-256 MAC", ErrBadSignature)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + tsText + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: the signature does not match the body", ErrBadSignature)
	}
	sent := time.Unix(ts, 0)
	if d := now.Sub(sent); d > SignatureWindow || d < -SignatureWindow {
		when := d.Round(time.Second).String() + " ago"
		if d < 0 {
			when = (-d).Round(time.Second).String() + " in the future"
		}
		return fmt.Errorf("%w: signed at %s, %s", ErrStaleRequest, sent.UTC().Format(time.RFC3339), when)
	}
	return nil
}

// interaction is a press of one of our buttons, from a verified payload.
type interaction struct {
	ApprovalID  string
	SummaryHash string
	Approve     bool
	UserID      string
	TeamID      string
	ResponseURL string
}

// errNotOurs marks a well-formed payload that is not a press of our
// buttons (another app feature); it is acknowledged and ignored.
var errNotOurs = errors.New("not an approval button")

// parseInteraction reads the form body of an interaction request.
func parseInteraction(body []byte) (interaction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return interaction{}, fmt.Errorf("%w: the body is not a form: %v", ErrBadPayload, err)
	}
	raw := form.Get("payload")
	if raw == "" {
		return interaction{}, fmt.Errorf("%w: the form has no payload field", ErrBadPayload)
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &cb); err != nil {
		return interaction{}, fmt.Errorf("%w: the payload is not JSON of an interaction: %v", ErrBadPayload, err)
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		return interaction{}, errNotOurs
	}
	var act *slack.BlockAction
	for _, a := range cb.ActionCallback.BlockActions {
		if a != nil && (a.ActionID == ActionApprove || a.ActionID == ActionDeny) {
			act = a
			break
		}
	}
	if act == nil {
		return interaction{}, errNotOurs
	}
	var v buttonValue
	if err := json.Unmarshal([]byte(act.Value), &v); err != nil || v.ApprovalID == "" {
		return interaction{}, fmt.Errorf("%w: the button's value names no approval", ErrBadPayload)
	}
	if cb.User.ID == "" {
		return interaction{}, fmt.Errorf("%w: the payload names no user", ErrBadPayload)
	}
	team := cb.Team.ID
	if team == "" {
		team = cb.User.TeamID
	}
	return interaction{
		ApprovalID: v.ApprovalID, SummaryHash: v.SummaryHash, Approve: act.ActionID == ActionApprove,
		UserID: cb.User.ID, TeamID: team, ResponseURL: cb.ResponseURL,
	}, nil
}

// Handler returns the http.Handler to set as the Slack app's
// interactivity request URL. For each POST it:
//
//  1. reads at most Config.MaxBody bytes (413 beyond);
//  2. verifies the request with VerifyRequest (401 when forged, tampered
//     with, or signed outside SignatureWindow; audited to Config.Audit);
//  3. ignores, with 200, interactions other than the Approve and Deny
//     buttons of a request message (400 for a malformed payload);
//  4. maps the Slack user to an identity: users.info must return an
//     active, human member of Config.TeamID (when set), not a guest unless
//     Config.AllowGuests, with an e-mail address, which becomes the
//     verdict's Approver (lower-cased);
//  5. submits the verdict (Channel "slack", the summary hash the message
//     showed) to the bound Submitter;
//  6. tells the person, in an ephemeral message through the payload's
//     response_url, that the verdict was recorded, or why it was refused.
//
// Steps 4 to 6 answer 200 to Slack whatever happens: the request was
// authentic, and the person learns the outcome from the ephemeral message.
// A refusal is never reported as a success. The work of one request is
// bounded by Config.HandleTimeout and continues if Slack hangs up, so that
// a verdict is not half-recorded: Slack expects an answer within three
// seconds, and when users.info is rate limited the person may see Slack's
// timeout warning, but the verdict is still submitted and the outcome
// still reaches them through response_url. The handler is safe for
// concurrent use.
func (a *Approver) Handler() http.Handler { return handler{a} }

type handler struct{ a *Approver }

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.a
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST is accepted", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.handleTimeout)
	defer cancel()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			a.refused(ctx, r, interaction{}, fmt.Errorf("%w: the body exceeds %d bytes", ErrBadPayload, a.maxBody))
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	if err := VerifyRequest(a.secret, r.Header, body, a.clock.Now()); err != nil {
		a.refused(ctx, r, interaction{}, err)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	in, err := parseInteraction(body)
	switch {
	case errors.Is(err, errNotOurs):
		w.WriteHeader(http.StatusOK)
		return
	case err != nil:
		a.refused(ctx, r, interaction{}, err)
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	msg := a.act(ctx, r, in)
	a.respond(ctx, in.ResponseURL, msg)
	w.WriteHeader(http.StatusOK)
}

// act turns a verified button press into a verdict and returns what to
// tell the person.
func (a *Approver) act(ctx context.Context, r *http.Request, in interaction) string {
	const notRecorded = "Your verdict was NOT recorded: "
	if a.teamID != "" && in.TeamID != a.teamID {
		err := fmt.Errorf("%w: workspace %s is not allowed to answer", ErrUnknownUser, in.TeamID)
		a.refused(ctx, r, in, err)
		return notRecorded + "this Slack workspace is not allowed to answer."
	}
	sub := a.submitter()
	if sub == nil {
		a.log.Error("slack verdict arrived before Bind; nothing recorded", "approval_id", in.ApprovalID)
		return notRecorded + "the approval service is not ready. Try again shortly."
	}
	email, err := a.identify(ctx, in)
	if errors.Is(err, ErrUnknownUser) {
		a.refused(ctx, r, in, err)
		return notRecorded + err.Error() + "."
	}
	if err != nil {
		a.log.Error("identifying a slack user failed", "slack_user", in.UserID, "approval_id", in.ApprovalID, "err", err)
		return notRecorded + "Slack could not confirm who you are. Try again shortly."
	}
	verb := "deny"
	if in.Approve {
		verb = "approve"
	}
	v := playbook.Verdict{
		ApprovalID: in.ApprovalID, Approver: email, Approve: in.Approve, Channel: Channel,
		SummaryHash: in.SummaryHash,
		Reason:      fmt.Sprintf("pressed %s in Slack as user %s of workspace %s", verb, in.UserID, in.TeamID),
	}
	err = sub.Submit(ctx, v)
	var refused *playbook.VerdictRefusedError
	switch {
	case err == nil:
		return fmt.Sprintf("Recorded: %s chose to %s request %s.", email, verb, in.ApprovalID)
	case errors.As(err, &refused):
		return notRecorded + refused.Error() + "."
	default:
		a.log.Error("submitting a slack verdict failed", "approval_id", in.ApprovalID, "approver", email, "err", err)
		return notRecorded + "it could not be stored. Try again, or use another approval channel."
	}
}

// identify returns the e-mail address Slack vouches for as the identity
// of the user who pressed the button.
func (a *Approver) identify(ctx context.Context, in interaction) (string, error) {
	var u *slack.User
	err := a.call(ctx, "users.info", true, func(ctx context.Context) error {
		var err error
		u, err = a.client.GetUserInfoContext(ctx, in.UserID)
		return err
	})
	switch {
	case errors.Is(err, playbook.ErrNotFound):
		return "", fmt.Errorf("%w: Slack user %s does not exist", ErrUnknownUser, in.UserID)
	case err != nil:
		return "", err
	case u.ID != in.UserID:
		return "", fmt.Errorf("%w: Slack answered for user %q when asked about %s", ErrUnknownUser, u.ID, in.UserID)
	case u.Deleted:
		return "", fmt.Errorf("%w: Slack user %s is deactivated", ErrUnknownUser, in.UserID)
	case u.IsBot || u.IsAppUser || u.IsWorkflowBot:
		return "", fmt.Errorf("%w: Slack user %s is a bot", ErrUnknownUser, in.UserID)
	case u.IsStranger || (a.teamID != "" && u.TeamID != a.teamID):
		return "", fmt.Errorf("%w: Slack user %s belongs to another workspace", ErrUnknownUser, in.UserID)
	case (u.IsRestricted || u.IsUltraRestricted) && !a.allowGuests:
		return "", fmt.Errorf("%w: Slack user %s is a guest", ErrUnknownUser, in.UserID)
	}
	email := strings.ToLower(strings.TrimSpace(u.Profile.Email))
	if at := strings.LastIndexByte(email, '@'); at <= 0 || at == len(email)-1 {
		return "", fmt.Errorf("%w: Slack user %s has no e-mail address", ErrUnknownUser, in.UserID)
	}
	return email, nil
}

// respond sends text to the person through the payload's response_url, as
// an ephemeral message, if the URL is one of Slack's.
func (a *Approver) respond(ctx context.Context, responseURL, text string) {
	if responseURL == "" {
		return
	}
	allowed := false
	for _, p := range a.responseURLs {
		if strings.HasPrefix(responseURL, p) {
			allowed = true
			break
		}
	}
	if !allowed {
		a.log.Warn("not answering to a response_url outside Slack", "response_url_host", hostOf(responseURL))
		return
	}
	err := a.call(ctx, "response_url", false, func(ctx context.Context) error {
		_, _, _, err := a.client.SendMessageContext(ctx, "",
			slack.MsgOptionResponseURL(responseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText(text, true))
		return err
	})
	if err != nil {
		a.log.Warn("answering the slack user failed", "err", err)
	}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Host
}

// refused records a request refused before it reached the runner, in the
// log and, when configured, the audit trail.
func (a *Approver) refused(ctx context.Context, r *http.Request, in interaction, reason error) {
	actor := "unauthenticated"
	if in.UserID != "" {
		actor = "slack:" + in.UserID
	}
	a.log.Warn("slack interaction refused", "actor", actor, "approval_id", in.ApprovalID, "remote_addr", r.RemoteAddr, "err", reason)
	if a.sink == nil {
		return
	}
	data := map[string]any{"channel": Channel, "remote_addr": r.RemoteAddr}
	if in.ApprovalID != "" {
		data["approval_id"] = in.ApprovalID
		data["approve"] = in.Approve
	}
	rec := audit.Record{Time: a.clock.Now().UTC(), Type: audit.TypeVerdictRejected, Actor: actor, Error: reason.Error(), Data: data}
	if err := a.sink.Record(ctx, rec); err != nil {
		a.log.Error("auditing a refused slack interaction failed", "err", err)
	}
}

package slackapprove

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// Defaults for the zero values of Config.
const (
	// DefaultMaxRetries is how many times a Slack call is retried after a
	// rate limit or a transient failure.
	DefaultMaxRetries = 3
	// DefaultMaxRetryWait is the longest Retry-After that is waited for;
	// a longer one fails the call at once.
	DefaultMaxRetryWait = time.Minute
	// DefaultMaxBody bounds the body of an interaction request.
	DefaultMaxBody = 256 << 10
	// DefaultHandleTimeout bounds the work done for one button press
	// (identity lookup, verdict, response), which continues even if Slack
	// hangs up.
	DefaultHandleTimeout = 30 * time.Second
)

// DefaultResponseURLPrefixes are the only places the handler sends its
// answers to when Config.ResponseURLPrefixes is empty: Slack's own hosts.
var DefaultResponseURLPrefixes = []string{"https://hooks.slack.com/", "https://hooks.slack-gov.com/"}

// Target is a set of places a request is posted to: a channel, people's
// direct messages, or both.
type Target struct {
	// Channel is a channel id ("C0123ABCD") the app's bot is a member of.
	Channel string
	// People are e-mail addresses; each is found with users.lookupByEmail
	// and sent a direct message.
	People []string
}

func (t Target) empty() bool { return t.Channel == "" && len(t.People) == 0 }

func (t Target) validate(field string) error {
	if t.empty() {
		return fmt.Errorf("slackapprove: %s names no channel and no people", field)
	}
	if strings.TrimSpace(t.Channel) != t.Channel {
		return fmt.Errorf("slackapprove: %s.Channel %q has surrounding spaces", field, t.Channel)
	}
	for i, p := range t.People {
		if at := strings.LastIndexByte(p, '@'); at <= 0 || at == len(p)-1 || strings.ContainsAny(p, " \t\r\n,") {
			return fmt.Errorf("slackapprove: %s.People[%d] %q is not an e-mail address", field, i, p)
		}
	}
	return nil
}

// Config configures an Approver. Client, SigningSecret and a Channel or
// People are required; every other zero value means a sensible default.
type Config struct {
	// Client calls the Slack Web API with the bot token (scopes
	// chat:write, users:read, users:read.email, im:write). Required.
	Client *slack.Client
	// SigningSecret is the app's signing secret, which verifies that
	// interaction requests come from Slack. Required. It never appears in
	// errors, logs or audit records.
	SigningSecret string
	// Channel is the channel id requests are posted to.
	Channel string
	// People are the e-mail addresses of approvers sent each request
	// directly.
	People []string
	// Escalation lists the tiers notified when a request escalates:
	// tier 1 is Escalation[0]. Whether their verdicts count is for the
	// playbook's approval rule to say.
	Escalation []Target
	// TeamID, when set, is the only Slack workspace whose members may
	// answer ("T0123ABCD").
	TeamID string
	// AllowGuests lets guest accounts (restricted and ultra-restricted
	// users) answer. By default they are refused.
	AllowGuests bool
	// Audit, when set, receives a record for every interaction request
	// refused before it reached the runner (bad signature, stale
	// timestamp, unknown user). The runner audits the refusals it makes.
	Audit audit.Sink
	// Clock reads the time for the signature window and waits between
	// retries. Nil means the system clock.
	Clock playbook.Clock
	// Logger receives diagnostics. Nil means slog.Default().
	Logger *slog.Logger
	// MaxRetries bounds retries of one Slack call; zero means
	// DefaultMaxRetries, negative means none.
	MaxRetries int
	// MaxRetryWait is the longest Retry-After waited for; zero means
	// DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// MaxBody bounds an interaction request's body; zero means
	// DefaultMaxBody.
	MaxBody int64
	// HandleTimeout bounds the handling of one button press; zero means
	// DefaultHandleTimeout.
	HandleTimeout time.Duration
	// ResponseURLPrefixes are the URL prefixes a payload's response_url
	// must start with to be answered; empty means
	// DefaultResponseURLPrefixes.
	ResponseURLPrefixes []string
}

// Approver posts approval requests to Slack and turns button presses into
// verdicts. It implements playbook.Approver and playbook.ApprovalFollower;
// Handler serves Slack's interactivity requests. It is safe for
// concurrent use. Create it with New and connect it to the runner with
// Bind.
//
// The messages posted are remembered in memory (a few hundred bytes per
// approval, dropped a day after the approval's deadline), which is what
// makes a repeated Request post nothing and lets Follow update them. After
// a restart a repeated Request posts again, and a settled notice for a
// request whose messages are forgotten is posted as a new message.
type Approver struct {
	client        *slack.Client
	secret        []byte
	primary       Target
	escalation    []Target
	teamID        string
	allowGuests   bool
	sink          audit.Sink
	clock         playbook.Clock
	log           *slog.Logger
	maxRetries    int
	maxRetryWait  time.Duration
	maxBody       int64
	handleTimeout time.Duration
	responseURLs  []string

	mu      sync.Mutex
	sub     approve.Submitter
	threads map[string]*thread
	dms     map[string]string // e-mail → DM channel id
}

var (
	_ playbook.Approver         = (*Approver)(nil)
	_ playbook.ApprovalFollower = (*Approver)(nil)
)

// New checks cfg and returns an Approver. The error names the first field
// at fault.
func New(cfg Config) (*Approver, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("slackapprove: Config.Client is required")
	case cfg.SigningSecret == "":
		return nil, errors.New("slackapprove: Config.SigningSecret is required")
	case cfg.MaxRetryWait < 0:
		return nil, errors.New("slackapprove: Config.MaxRetryWait is negative")
	case cfg.MaxBody < 0:
		return nil, errors.New("slackapprove: Config.MaxBody is negative")
	case cfg.HandleTimeout < 0:
		return nil, errors.New("slackapprove: Config.HandleTimeout is negative")
	}
	primary := Target{Channel: cfg.Channel, People: cfg.People}
	if err := primary.validate("Config (Channel and People)"); err != nil {
		return nil, err
	}
	for i, t := range cfg.Escalation {
		if err := t.validate(fmt.Sprintf("Config.Escalation[%d]", i)); err != nil {
			return nil, err
		}
	}
	prefixes := cfg.ResponseURLPrefixes
	if len(prefixes) == 0 {
		prefixes = DefaultResponseURLPrefixes
	}
	for i, p := range prefixes {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.HasSuffix(p, "/") {
			return nil, fmt.Errorf("slackapprove: Config.ResponseURLPrefixes[%d] %q is not an absolute URL ending in /", i, p)
		}
	}
	a := &Approver{
		client: cfg.Client, secret: []byte(cfg.SigningSecret),
		primary: primary, escalation: cloneTargets(cfg.Escalation),
		teamID: cfg.TeamID, allowGuests: cfg.AllowGuests, sink: cfg.Audit,
		clock: cfg.Clock, log: cfg.Logger,
		maxRetries: cfg.MaxRetries, maxRetryWait: cfg.MaxRetryWait,
		maxBody: cfg.MaxBody, handleTimeout: cfg.HandleTimeout,
		responseURLs: append([]string(nil), prefixes...),
		threads:      make(map[string]*thread), dms: make(map[string]string),
	}
	if a.clock == nil {
		a.clock = playbook.SystemClock()
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	switch {
	case a.maxRetries == 0:
		a.maxRetries = DefaultMaxRetries
	case a.maxRetries < 0:
		a.maxRetries = 0
	}
	if a.maxRetryWait == 0 {
		a.maxRetryWait = DefaultMaxRetryWait
	}
	if a.maxBody == 0 {
		a.maxBody = DefaultMaxBody
	}
	if a.handleTimeout == 0 {
		a.handleTimeout = DefaultHandleTimeout
	}
	return a, nil
}

func cloneTargets(ts []Target) []Target {
	out := make([]Target, len(ts))
	for i, t := range ts {
		out[i] = Target{Channel: t.Channel, People: append([]string(nil), t.People...)}
	}
	return out
}

// Bind sets where verdicts go; a *playbook.Runner is a Submitter. Call it
// once the runner exists; until then button presses are answered with an
// error and no verdict is recorded.
func (a *Approver) Bind(s approve.Submitter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sub = s
}

func (a *Approver) submitter() approve.Submitter {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sub
}

// message is a posted Slack message carrying an approval request.
type message struct{ channel, ts string }

// thread is what the approver remembers of one approval request.
type thread struct {
	mu   sync.Mutex
	req  playbook.ApprovalRequest
	keys []string // message keys, in posting order
	msgs map[string]message
	done map[string]bool // notices handled
}

func (th *thread) add(key string, m message) {
	th.keys = append(th.keys, key)
	th.msgs[key] = m
}

// keepSettled is how long after its deadline a settled request is
// remembered, so that a repeated notice is recognised.
const keepSettled = 24 * time.Hour

// thread returns the record of request r, creating it, and forgets
// settled requests whose deadline is long past.
func (a *Approver) thread(r playbook.ApprovalRequest) *thread {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	for id, th := range a.threads {
		if id != r.ID && th.settled() && now.Sub(th.req.Deadline) > keepSettled {
			delete(a.threads, id)
		}
	}
	th, ok := a.threads[r.ID]
	if !ok {
		th = &thread{req: r, msgs: make(map[string]message), done: make(map[string]bool)}
		a.threads[r.ID] = th
	}
	return th
}

// settled reports, without blocking, whether the thread's request was
// settled; a thread busy elsewhere counts as not settled.
func (th *thread) settled() bool {
	if !th.mu.TryLock() {
		return false
	}
	defer th.mu.Unlock()
	return th.done[string(playbook.NoticeSettled)]
}

// Request posts r, with its case summary and Approve and Deny buttons, to
// the configured channel and to each configured person. It is idempotent
// per r.ID within the process: a repeated request posts only where an
// earlier attempt failed. Slack's rate limits are waited out (see
// Config.MaxRetryWait) unless ctx ends first. The error joins the failure
// of every destination that was not reached, each a *playbook.ProviderError
// naming the Slack method.
func (a *Approver) Request(ctx context.Context, r playbook.ApprovalRequest) error {
	if r.ID == "" {
		return errors.New("slackapprove: the approval request has no ID")
	}
	th := a.thread(r)
	th.mu.Lock()
	defer th.mu.Unlock()
	return a.postRequest(ctx, th, "", a.primary, "")
}

// postRequest posts th's request to every destination of t not yet
// reached; keys are prefixed with scope.
func (a *Approver) postRequest(ctx context.Context, th *thread, scope string, t Target, note string) error {
	blocks, text, err := requestBlocks(th.req, note)
	if err != nil {
		return err
	}
	var errs []error
	for _, dest := range destinations(t) {
		key := scope + dest
		if _, ok := th.msgs[key]; ok {
			continue
		}
		m, err := a.post(ctx, dest, "", text, blocks)
		if err != nil {
			errs = append(errs, fmt.Errorf("slackapprove: posting approval %s to %s: %w", th.req.ID, dest, err))
			continue
		}
		th.add(key, m)
	}
	return errors.Join(errs...)
}

// destinations lists t as "channel:<id>" and "person:<email>" keys.
func destinations(t Target) []string {
	var out []string
	if t.Channel != "" {
		out = append(out, "channel:"+t.Channel)
	}
	for _, p := range t.People {
		out = append(out, "person:"+strings.ToLower(p))
	}
	return out
}

// post sends a message to a destination key, in a thread when threadTS
// is set.
func (a *Approver) post(ctx context.Context, dest, threadTS, text string, blocks []slack.Block) (message, error) {
	ch, err := a.channelOf(ctx, dest)
	if err != nil {
		return message{}, err
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if blocks != nil {
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	var m message
	// A post is not repeated after a transient failure: it may have
	// been delivered. A rate-limited post was not, and is retried.
	err = a.call(ctx, "chat.postMessage", false, func(ctx context.Context) error {
		var err error
		m.channel, m.ts, err = a.client.PostMessageContext(ctx, ch, opts...)
		return err
	})
	return m, err
}

// channelOf returns the channel id of a destination key, opening a direct
// conversation with a person the first time.
func (a *Approver) channelOf(ctx context.Context, dest string) (string, error) {
	if ch, ok := strings.CutPrefix(dest, "channel:"); ok {
		return ch, nil
	}
	email := strings.TrimPrefix(dest, "person:")
	a.mu.Lock()
	ch, ok := a.dms[email]
	a.mu.Unlock()
	if ok {
		return ch, nil
	}
	var u *slack.User
	err := a.call(ctx, "users.lookupByEmail", true, func(ctx context.Context) error {
		var err error
		u, err = a.client.GetUserByEmailContext(ctx, email)
		return err
	})
	if err != nil {
		return "", err
	}
	var c *slack.Channel
	err = a.call(ctx, "conversations.open", true, func(ctx context.Context) error {
		var err error
		c, _, _, err = a.client.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{u.ID}})
		return err
	})
	if err != nil {
		return "", err
	}
	if c == nil || c.ID == "" {
		return "", &playbook.ProviderError{Provider: "slack", Op: "conversations.open", Err: playbook.ErrInvalidRequest, Message: "no channel in the answer"}
	}
	a.mu.Lock()
	a.dms[email] = c.ID
	a.mu.Unlock()
	return c.ID, nil
}

// Follow tells Slack what became of a request:
//
//   - NoticeSettled replaces every message of the request (chat.update)
//     with the outcome and who decided, without buttons; when none of its
//     messages is known (after a restart) the outcome is posted anew.
//   - NoticeReminder replies in the thread of each message; when none is
//     known the request is posted again.
//   - NoticeEscalation posts the request, with its buttons, to tier
//     n.Tier of Config.Escalation; a tier that is not configured is an
//     error.
//
// Follow is idempotent per notice within the process (a reminder is
// identified by its time, an escalation by its tier) and safe for
// concurrent use; the error joins every Slack call that failed.
func (a *Approver) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	if n.Request.ID == "" {
		return errors.New("slackapprove: the notice's request has no ID")
	}
	th := a.thread(n.Request)
	th.mu.Lock()
	defer th.mu.Unlock()
	var key string
	switch n.Kind {
	case playbook.NoticeSettled:
		key = string(n.Kind)
	case playbook.NoticeReminder:
		key = "reminder@" + n.At.UTC().Format(time.RFC3339Nano)
	case playbook.NoticeEscalation:
		key = fmt.Sprintf("tier:%d", n.Tier)
	default:
		return fmt.Errorf("slackapprove: unknown notice kind %q", n.Kind)
	}
	if th.done[key] {
		return nil
	}
	var err error
	switch n.Kind {
	case playbook.NoticeSettled:
		err = a.settle(ctx, th, n)
	case playbook.NoticeReminder:
		err = a.remind(ctx, th, n)
	case playbook.NoticeEscalation:
		err = a.escalate(ctx, th, n)
	}
	if err == nil {
		th.done[key] = true
	}
	return err
}

func (a *Approver) settle(ctx context.Context, th *thread, n playbook.ApprovalNotice) error {
	blocks, text := outcomeBlocks(n)
	if len(th.keys) == 0 {
		var errs []error
		for _, dest := range destinations(a.primary) {
			if _, err := a.post(ctx, dest, "", text, blocks); err != nil {
				errs = append(errs, fmt.Errorf("slackapprove: posting the outcome of %s to %s: %w", n.Request.ID, dest, err))
			}
		}
		return errors.Join(errs...)
	}
	var errs []error
	for _, key := range th.keys {
		m := th.msgs[key]
		err := a.call(ctx, "chat.update", true, func(ctx context.Context) error {
			_, _, _, err := a.client.UpdateMessageContext(ctx, m.channel, m.ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("slackapprove: updating the message of %s in %s: %w", n.Request.ID, m.channel, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Approver) remind(ctx context.Context, th *thread, n playbook.ApprovalNotice) error {
	if len(th.keys) == 0 {
		return a.postRequest(ctx, th, "", a.primary, "Reminder: this request still needs a verdict.")
	}
	text := fmt.Sprintf("Reminder: approval %s still needs a verdict. Without one it is denied at %s.",
		n.Request.ID, n.Request.Deadline.UTC().Format(time.RFC3339))
	var errs []error
	for _, key := range th.keys {
		m := th.msgs[key]
		dest := "channel:" + m.channel
		if _, err := a.post(ctx, dest, m.ts, text, nil); err != nil {
			errs = append(errs, fmt.Errorf("slackapprove: reminding about %s in %s: %w", n.Request.ID, m.channel, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Approver) escalate(ctx context.Context, th *thread, n playbook.ApprovalNotice) error {
	if n.Tier < 1 || n.Tier > len(a.escalation) {
		return fmt.Errorf("slackapprove: escalation of %s to tier %d, but Config.Escalation has %d tiers", n.Request.ID, n.Tier, len(a.escalation))
	}
	note := fmt.Sprintf("Escalated to you (tier %d): nobody has decided yet.", n.Tier)
	return a.postRequest(ctx, th, fmt.Sprintf("tier%d/", n.Tier), a.escalation[n.Tier-1], note)
}

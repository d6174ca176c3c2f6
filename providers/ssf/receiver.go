package ssf

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// Audit record types this package writes beside the runner's own
// (audit.TypeEventRejected for refused SETs, audit.TypeEventDuplicate for
// replays).
const (
	// TypeSETIgnored: a verified SET that starts no run (an event type
	// this package does not map, a stream-updated event, a subject that
	// names no known account). Outcome says why.
	TypeSETIgnored audit.Type = "ssf.set_ignored"
	// TypeVerification: a verified SSF verification event was received.
	TypeVerification audit.Type = "ssf.verification"
)

// ErrUnknownSubject is returned by a Config.Resolve function for a subject
// that names no account of the directory: the SET is accepted and audited
// as ignored, as Okta's receiver does for unknown users.
var ErrUnknownSubject = errors.New("ssf: the subject names no known account")

// Receiver defaults.
const (
	DefaultProvider        = "ssf"
	DefaultReplayCacheSize = 100_000
)

// Verification is a received SSF verification event.
type Verification struct {
	// Issuer and JTI identify the SET.
	Issuer, JTI string
	// StreamID is the sub_id's opaque id: the stream being verified.
	StreamID string
	// State echoes the state the receiver passed when it asked for the
	// verification event.
	State string
	// ReceivedAt is when the SET was processed.
	ReceivedAt time.Time
}

// Config configures a Receiver.
type Config struct {
	// Verifier checks every SET. Required.
	Verifier *Verifier
	// Handle hands an event to the playbook runner; it is
	// (*playbook.Runner).Handle. It returns the run's id once the event is
	// durably accepted, playbook.ErrDuplicate for an event id already
	// seen, an error wrapping playbook.ErrInvalidEvent for an event the
	// runner refuses; any other error is taken as transient. Required.
	Handle func(ctx context.Context, ev playbook.Event) (string, error)
	// Audit receives the receiver's own records: refused SETs, replays,
	// ignored SETs and verification events. Required.
	Audit audit.Sink
	// Provider is the Subject.Provider of the events produced when no
	// Resolve is set. Empty means DefaultProvider.
	Provider string
	// Resolve, when set, maps the subject a SET names (the principal of
	// its subject identifier, see SubjectID.Principal) to an account of
	// the directory the playbook contains, replacing ev.Subject. It
	// returns ErrUnknownSubject (or an error wrapping it) for a subject
	// that names no account; any other error is taken as transient. It
	// must be safe for concurrent use.
	Resolve func(ctx context.Context, id SubjectID, ev playbook.Event) (playbook.Subject, error)
	// Bearer, when set, is the token a pushing transmitter must present
	// as "Authorization: Bearer <Bearer>" (the authorization_header
	// configured on the stream). It is compared in constant time and
	// never logged.
	Bearer string
	// MaxBodyBytes bounds a pushed body. Zero means DefaultMaxTokenBytes.
	MaxBodyBytes int64
	// ReplayCacheSize bounds the jti replay cache. Zero means
	// DefaultReplayCacheSize.
	ReplayCacheSize int
	// CriticalSubjectMembers is the transmitter's critical_subject_members
	// metadata: an event whose complex subject holds one of these members
	// that this package does not understand is discarded (accepted,
	// audited as ignored), as SSF requires.
	CriticalSubjectMembers []string
	// OnVerification, when set, is called for each verification event,
	// after it is audited. It must not block for long.
	OnVerification func(ctx context.Context, v Verification)
	// Logger receives diagnostics. Nil means slog.Default().
	Logger *slog.Logger
}

// Receiver turns Security Event Tokens into playbook events. It verifies
// each SET, refuses replays with its own bounded jti cache (the runner's
// durable de-duplication catches replays older than the cache), maps the
// events and hands them to the runner, auditing every refusal. It serves
// RFC 8935 push delivery as an http.Handler and is fed by a Poller for
// RFC 8936 poll delivery.
//
// A Receiver is safe for concurrent use.
type Receiver struct {
	cfg    Config
	bearer [sha256.Size]byte
	replay *replayCache
	log    *slog.Logger
}

// New checks cfg and returns a receiver. The error names the field at
// fault.
func New(cfg Config) (*Receiver, error) {
	switch {
	case cfg.Verifier == nil:
		return nil, errors.New("ssf: Config.Verifier is required")
	case cfg.Handle == nil:
		return nil, errors.New("ssf: Config.Handle is required (pass (*playbook.Runner).Handle)")
	case cfg.Audit == nil:
		return nil, errors.New("ssf: Config.Audit is required")
	case cfg.MaxBodyBytes < 0:
		return nil, errors.New("ssf: Config.MaxBodyBytes must not be negative")
	case cfg.ReplayCacheSize < 0:
		return nil, errors.New("ssf: Config.ReplayCacheSize must not be negative")
	case strings.ContainsAny(cfg.Bearer, " \t\r\n"):
		return nil, errors.New("ssf: Config.Bearer must not contain white space")
	}
	if cfg.Provider == "" {
		cfg.Provider = DefaultProvider
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxTokenBytes
	}
	if cfg.ReplayCacheSize == 0 {
		cfg.ReplayCacheSize = DefaultReplayCacheSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Receiver{cfg: cfg, replay: newReplayCache(cfg.ReplayCacheSize), log: cfg.Logger.With("component", "ssf-receiver")}
	if cfg.Bearer != "" {
		r.bearer = sha256.Sum256([]byte(cfg.Bearer))
	}
	return r, nil
}

// Outcome says what became of one SET.
type Outcome int

// Outcomes.
const (
	// OutcomeAccepted: at least one event was durably accepted by the
	// runner; Result.RunIDs lists the runs.
	OutcomeAccepted Outcome = iota
	// OutcomeIgnored: the SET is valid but starts no run (unknown event
	// type, stream-updated, unknown subject). Audited as TypeSETIgnored.
	OutcomeIgnored
	// OutcomeVerification: an SSF verification event, answered and
	// audited as TypeVerification.
	OutcomeVerification
	// OutcomeReplay: the SET was received before. Audited as
	// audit.TypeEventDuplicate.
	OutcomeReplay
	// OutcomeRejected: the SET is refused; Result.Err is an *Error.
	// Audited as audit.TypeEventRejected.
	OutcomeRejected
	// OutcomeRetry: a transient failure (keys unreachable, runner or audit
	// failure); the SET should be delivered again. Nothing was accepted.
	OutcomeRetry
)

var outcomeNames = [...]string{"accepted", "ignored", "verification", "replay", "rejected", "retry"}

// String returns the outcome's name.
func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
	return outcomeNames[o]
}

// Result is what Process did with one SET.
type Result struct {
	Outcome Outcome
	// RunIDs are the runs started, for OutcomeAccepted.
	RunIDs []string
	// Err is an *Error for OutcomeRejected and OutcomeReplay, and the
	// cause of an OutcomeRetry.
	Err error
}

// Acknowledge reports whether a poll client should acknowledge the SET:
// true once the transmitter need not deliver it again (accepted, ignored,
// verification, replay).
func (r Result) Acknowledge() bool { return r.Outcome <= OutcomeReplay }

// Delivery names how a SET arrived; it is recorded in the audit trail.
type Delivery string

// Deliveries.
const (
	DeliveryPushed Delivery = "push"
	DeliveryPolled Delivery = "poll"
)

// Process verifies one compact SET and hands its events to the runner.
// It never panics on bad input. When ctx ends, it returns OutcomeRetry
// with ctx.Err() unless the runner already accepted the events.
func (r *Receiver) Process(ctx context.Context, token []byte, d Delivery) Result {
	now := time.Now().UTC()
	set, err := r.cfg.Verifier.Verify(ctx, token)
	if err != nil {
		var se *Error
		if !errors.As(err, &se) {
			if ctx.Err() == nil {
				r.log.Warn("SET could not be verified now; it should be redelivered", "delivery", d, "err", err)
			}
			return Result{Outcome: OutcomeRetry, Err: err}
		}
		return r.reject(ctx, now, d, token, set, se)
	}
	key := set.Issuer + "\x00" + set.ID
	expires := set.IssuedAt.Add(r.cfg.Verifier.cfg.MaxAge + r.cfg.Verifier.cfg.MaxSkew)
	switch r.replay.claim(key, now, expires) {
	case claimInFlight:
		return Result{Outcome: OutcomeRetry, Err: fmt.Errorf("%w: SET %.64q is being processed by another delivery", ErrUnavailable, set.ID)}
	case claimDone:
		return r.replayed(ctx, now, d, set, "receiver replay cache")
	}
	res := r.handle(ctx, now, d, set)
	r.replay.finish(key, res.Outcome != OutcomeRetry)
	return res
}

// handle maps and hands over the events of a verified, new SET.
func (r *Receiver) handle(ctx context.Context, now time.Time, d Delivery, set *SET) Result {
	type pending struct {
		ev playbook.Event
	}
	var todo []pending
	var verifications []Verification
	ignored := 0
	for _, e := range set.Events {
		switch {
		case e.Type == SSFVerification:
			v := Verification{Issuer: set.Issuer, JTI: set.ID, State: e.String("state"), ReceivedAt: now}
			if sub, ok := set.SubjectOf(e); ok && sub.Format == FormatOpaque {
				v.StreamID = sub.ID
			}
			verifications = append(verifications, v)
			continue
		case !Supported(e.Type):
			why := "event type not supported"
			if e.Type == SSFStreamUpdated {
				why = "stream-updated: status " + e.String("status")
			}
			if err := r.ignore(ctx, now, d, set, e.Type, why); err != nil {
				return Result{Outcome: OutcomeRetry, Err: err}
			}
			ignored++
			continue
		}
		if sub, ok := set.SubjectOf(e); ok {
			if m := slices.IndexFunc(sub.Unknown, func(k string) bool { return slices.Contains(r.cfg.CriticalSubjectMembers, k) }); m >= 0 {
				if err := r.ignore(ctx, now, d, set, e.Type, fmt.Sprintf("critical subject member %.40q is not understood", sub.Unknown[m])); err != nil {
					return Result{Outcome: OutcomeRetry, Err: err}
				}
				ignored++
				continue
			}
		}
		ev, err := ToEvent(set, e, r.cfg.Provider)
		if errors.Is(err, ErrNoPrincipal) {
			if err := r.ignore(ctx, now, d, set, e.Type, "the subject names no account"); err != nil {
				return Result{Outcome: OutcomeRetry, Err: err}
			}
			ignored++
			continue
		}
		if err != nil {
			se := errorf(CodeInvalidRequest, err, "%s", strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": "))
			return r.reject(ctx, now, d, nil, set, se)
		}
		if r.cfg.Resolve != nil {
			sub, _ := set.SubjectOf(e)
			p, _ := sub.Principal()
			s, err := r.cfg.Resolve(ctx, p, ev)
			if errors.Is(err, ErrUnknownSubject) {
				if err := r.ignore(ctx, now, d, set, e.Type, "unknown subject "+p.String()); err != nil {
					return Result{Outcome: OutcomeRetry, Err: err}
				}
				ignored++
				continue
			}
			if err != nil {
				return Result{Outcome: OutcomeRetry, Err: fmt.Errorf("ssf: resolving subject %s: %w", p, errors.Join(ErrUnavailable, err))}
			}
			ev.Subject = s
		}
		todo = append(todo, pending{ev: ev})
	}
	for _, v := range verifications {
		rec := audit.Record{Time: now, Type: TypeVerification, EventID: EventID(set.Issuer, set.ID, ""), Actor: set.Issuer, Outcome: "verified",
			Data: map[string]any{"source": EventSource, "delivery": string(d), "iss": set.Issuer, "jti": set.ID, "stream_id": v.StreamID, "state": v.State}}
		if err := r.cfg.Audit.Record(ctx, rec); err != nil {
			return Result{Outcome: OutcomeRetry, Err: fmt.Errorf("ssf: auditing a verification event: %w", err)}
		}
		if r.cfg.OnVerification != nil {
			r.cfg.OnVerification(ctx, v)
		}
	}
	var runs []string
	dups := 0
	for _, p := range todo {
		id, err := r.cfg.Handle(ctx, p.ev)
		switch {
		case err == nil:
			runs = append(runs, id)
		case errors.Is(err, playbook.ErrDuplicate):
			dups++ // the runner audited it
		case errors.Is(err, playbook.ErrInvalidEvent):
			// The runner audited the refusal; answer it.
			return Result{Outcome: OutcomeRejected, RunIDs: runs, Err: errorf(CodeInvalidRequest, err, "the event was refused: %s", err)}
		default:
			if len(runs) > 0 {
				r.log.Warn("SET partly accepted; the rest should be redelivered", "jti", set.ID, "err", err)
			}
			return Result{Outcome: OutcomeRetry, RunIDs: runs, Err: fmt.Errorf("ssf: handing event %s to the runner: %w", p.ev.ID, errors.Join(ErrUnavailable, err))}
		}
	}
	switch {
	case len(runs) > 0:
		return Result{Outcome: OutcomeAccepted, RunIDs: runs}
	case dups > 0:
		return Result{Outcome: OutcomeReplay, Err: errorf(CodeInvalidRequest, ErrReplay, "SET %.64q was already received (runner de-duplication)", set.ID)}
	case len(verifications) > 0:
		return Result{Outcome: OutcomeVerification}
	}
	return Result{Outcome: OutcomeIgnored}
}

func (r *Receiver) replayed(ctx context.Context, now time.Time, d Delivery, set *SET, by string) Result {
	se := errorf(CodeInvalidRequest, ErrReplay, "SET %.64q was already received", set.ID)
	rec := audit.Record{Time: now, Type: audit.TypeEventDuplicate, EventID: EventID(set.Issuer, set.ID, ""), Actor: set.Issuer, Outcome: string(se.Code), Error: se.Description,
		Data: map[string]any{"source": EventSource, "delivery": string(d), "iss": set.Issuer, "jti": set.ID, "detected_by": by}}
	if err := r.cfg.Audit.Record(ctx, rec); err != nil {
		return Result{Outcome: OutcomeRetry, Err: fmt.Errorf("ssf: auditing a replayed SET: %w", err)}
	}
	return Result{Outcome: OutcomeReplay, Err: se}
}

func (r *Receiver) ignore(ctx context.Context, now time.Time, d Delivery, set *SET, eventType, why string) error {
	rec := audit.Record{Time: now, Type: TypeSETIgnored, EventID: EventID(set.Issuer, set.ID, ""), Actor: set.Issuer, Outcome: "ignored", Error: why,
		Data: map[string]any{"source": EventSource, "delivery": string(d), "iss": set.Issuer, "jti": set.ID, "event_type": eventType}}
	if err := r.cfg.Audit.Record(ctx, rec); err != nil {
		return fmt.Errorf("ssf: auditing an ignored SET: %w", err)
	}
	return nil
}

// reject audits a refused SET. set holds the verified claims when the
// signature verified; otherwise what the token claims is recorded as
// "claimed_*", unverified.
func (r *Receiver) reject(ctx context.Context, now time.Time, d Delivery, token []byte, set *SET, se *Error) Result {
	data := map[string]any{"source": EventSource, "delivery": string(d), "code": string(se.Code)}
	rec := audit.Record{Time: now, Type: audit.TypeEventRejected, Actor: "system", Outcome: string(se.Code), Error: se.Description, Data: data}
	if set != nil {
		rec.EventID = EventID(set.Issuer, set.ID, "")
		data["iss"], data["jti"] = set.Issuer, set.ID
		types := make([]string, 0, len(set.Events))
		for _, e := range set.Events {
			types = append(types, e.Type)
		}
		data["event_types"] = types
	} else if token != nil && len(token) <= r.cfg.Verifier.cfg.MaxTokenBytes {
		peek(token, data)
	}
	if err := r.cfg.Audit.Record(ctx, rec); err != nil {
		return Result{Outcome: OutcomeRetry, Err: fmt.Errorf("ssf: auditing a refused SET: %w", err)}
	}
	r.log.Info("SET refused", "delivery", d, "code", se.Code, "reason", se.Description)
	return Result{Outcome: OutcomeRejected, Err: se}
}

// peek records, for the audit trail of a refused token, its header's alg
// and kid and the iss and jti it claims, truncated, without trusting them.
func peek(token []byte, data map[string]any) {
	trunc := func(s string) string {
		if len(s) > 200 {
			return s[:200]
		}
		return s
	}
	tok := strings.TrimSpace(string(token))
	if h, err := ParseHeader(tok); err == nil {
		data["alg"], data["kid"] = trunc(h.Alg), trunc(h.Kid)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 2*MaxClaimsBytes {
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return
	}
	var c struct {
		Iss any `json:"iss"`
		Jti any `json:"jti"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return
	}
	if s, ok := c.Iss.(string); ok {
		data["claimed_iss"] = trunc(s)
	}
	if s, ok := c.Jti.(string); ok {
		data["claimed_jti"] = trunc(s)
	}
}

// ServeHTTP receives pushed SETs (RFC 8935): a POST whose body is one
// compact SET with Content-Type application/secevent+jwt, and, when
// Config.Bearer is set, "Authorization: Bearer <token>". It answers 202
// with an empty body when the SET is accepted, ignored, or a verification
// event; 400 with {"err", "description"} for a refused or replayed SET;
// 401 (authentication_failed) for a missing or wrong bearer token; 413
// (invalid_request) for a body over Config.MaxBodyBytes; 405 for another
// method; and 503 with Retry-After for a transient failure, which the
// transmitter should retry. Every refusal is audited; none starts a run.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "SETs are delivered with POST", http.StatusMethodNotAllowed)
		return
	}
	now := time.Now().UTC()
	if r.cfg.Bearer != "" && !r.bearerOK(req.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ssf-receiver"`)
		se := errorf(CodeAuthenticationFailed, errBearer, "the Authorization header is missing or does not carry the configured token")
		r.answer(w, r.refuseRequest(ctx, now, req, se))
		return
	}
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, "application/secevent+jwt") {
		se := errorf(CodeInvalidRequest, ErrMalformed, "Content-Type %.60q is not application/secevent+jwt", req.Header.Get("Content-Type"))
		r.answer(w, r.refuseRequest(ctx, now, req, se))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			se := errorf(CodeInvalidRequest, ErrTooLarge, "the body is larger than %d bytes", r.cfg.MaxBodyBytes)
			r.answer(w, r.refuseRequest(ctx, now, req, se))
			return
		}
		r.answer(w, Result{Outcome: OutcomeRetry, Err: fmt.Errorf("%w: reading the body: %v", ErrUnavailable, err)})
		return
	}
	r.answer(w, r.Process(ctx, body, DeliveryPushed))
}

func (r *Receiver) bearerOK(header string) bool {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], r.bearer[:]) == 1
}

// refuseRequest audits a push request refused before its SET was read.
func (r *Receiver) refuseRequest(ctx context.Context, now time.Time, req *http.Request, se *Error) Result {
	rec := audit.Record{Time: now, Type: audit.TypeEventRejected, Actor: "system", Outcome: string(se.Code), Error: se.Description,
		Data: map[string]any{"source": EventSource, "delivery": string(DeliveryPushed), "code": string(se.Code), "remote_addr": req.RemoteAddr}}
	if err := r.cfg.Audit.Record(ctx, rec); err != nil {
		return Result{Outcome: OutcomeRetry, Err: fmt.Errorf("ssf: auditing a refused push: %w", err)}
	}
	r.log.Info("push refused", "code", se.Code, "reason", se.Description, "remote_addr", req.RemoteAddr)
	return Result{Outcome: OutcomeRejected, Err: se}
}

func (r *Receiver) answer(w http.ResponseWriter, res Result) {
	if res.Acknowledge() && res.Outcome != OutcomeReplay {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var se *Error
	if res.Outcome == OutcomeRetry || !errors.As(res.Err, &se) {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "the receiver cannot accept this SET now; retry later", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, StatusFor(se), pushError{Err: se.Code, Description: se.Description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

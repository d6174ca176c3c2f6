package ssf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Poller defaults.
const (
	DefaultMaxEvents   = 25
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = time.Minute
	maxPollBodyBytes   = 16 << 20
	maxPollSets        = 1000
	maxPendingAcks     = 10_000
	pollRequestTimeout = 2 * time.Minute
)

// PollerConfig configures a Poller.
type PollerConfig struct {
	// Endpoint is the transmitter's poll URL (the stream's
	// delivery.endpoint_url). Required; https, or http to a loopback host.
	Endpoint string
	// Client sends the requests. Nil means http.DefaultClient. Its
	// Timeout, if any, must exceed the transmitter's long-poll wait.
	Client *http.Client
	// Authorization, when set, is sent as the Authorization header
	// ("Bearer <token>"). It is never logged.
	Authorization string
	// MaxEvents is the most SETs asked for per request. Zero means
	// DefaultMaxEvents.
	MaxEvents int
	// ReturnImmediately asks the transmitter not to hold the request open
	// when nothing is pending (no long poll).
	ReturnImmediately bool
	// MinBackoff and MaxBackoff bound the wait after an empty poll or a
	// failure: it starts at MinBackoff and doubles up to MaxBackoff, and
	// resets when SETs arrive. Zero means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives diagnostics. Nil means slog.Default().
	Logger *slog.Logger
}

// Poller fetches SETs from a transmitter's poll endpoint (RFC 8936) and
// hands them to a Receiver. A SET is acknowledged in a later request only
// once the Receiver reports that the transmitter need not deliver it again
// (the runner durably accepted its events, or it was ignored, answered or
// a replay); a refused SET is reported in setErrs with its error code; a
// SET that met a transient failure is neither, so the transmitter offers it
// again.
//
// Run and Poll must not be called concurrently; the accessors are safe for
// concurrent use.
type Poller struct {
	cfg PollerConfig
	rcv *Receiver
	log *slog.Logger

	// acks and errs wait for the next request.
	acks []string
	errs map[string]pushError
}

// NewPoller checks cfg and returns a poller feeding rcv. The error names
// the field at fault.
func NewPoller(rcv *Receiver, cfg PollerConfig) (*Poller, error) {
	if rcv == nil {
		return nil, errors.New("ssf: NewPoller needs a Receiver")
	}
	if _, err := checkURL("PollerConfig.Endpoint", cfg.Endpoint); err != nil {
		return nil, err
	}
	if cfg.MaxEvents < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		return nil, errors.New("ssf: PollerConfig.MaxEvents, MinBackoff and MaxBackoff must not be negative")
	}
	if strings.ContainsAny(cfg.Authorization, "\r\n") {
		return nil, errors.New("ssf: PollerConfig.Authorization must be a single header line")
	}
	if cfg.MaxEvents == 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.MaxEvents > maxPollSets {
		return nil, fmt.Errorf("ssf: PollerConfig.MaxEvents %d is above %d", cfg.MaxEvents, maxPollSets)
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, errors.New("ssf: PollerConfig.MaxBackoff is below MinBackoff")
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Poller{cfg: cfg, rcv: rcv, log: cfg.Logger.With("component", "ssf-poller"), errs: map[string]pushError{}}, nil
}

// pollRequest is the RFC 8936 request body.
type pollRequest struct {
	MaxEvents         *int                 `json:"maxEvents,omitempty"`
	ReturnImmediately bool                 `json:"returnImmediately"`
	Ack               []string             `json:"ack,omitempty"`
	SetErrs           map[string]pushError `json:"setErrs,omitempty"`
}

// PollResponse is the RFC 8936 response body.
type PollResponse struct {
	// Sets maps jti to compact SET.
	Sets map[string]string `json:"sets"`
	// MoreAvailable says more SETs are pending.
	MoreAvailable bool `json:"moreAvailable"`
}

// DecodePollResponse decodes and checks an RFC 8936 poll response: an
// object whose "sets" maps jti to compact SET strings (empty when nothing
// is pending) and an optional boolean "moreAvailable". Errors name what is
// wrong.
func DecodePollResponse(data []byte) (PollResponse, error) {
	var raw struct {
		Sets          map[string]json.RawMessage `json:"sets"`
		MoreAvailable *bool                      `json:"moreAvailable"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return PollResponse{}, fmt.Errorf("ssf: poll response is not a JSON object with \"sets\" and \"moreAvailable\": %v", err)
	}
	if raw.Sets == nil {
		return PollResponse{}, errors.New("ssf: poll response has no \"sets\" object")
	}
	if len(raw.Sets) > maxPollSets {
		return PollResponse{}, fmt.Errorf("ssf: poll response holds %d SETs, at most %d accepted", len(raw.Sets), maxPollSets)
	}
	out := PollResponse{Sets: make(map[string]string, len(raw.Sets))}
	if raw.MoreAvailable != nil {
		out.MoreAvailable = *raw.MoreAvailable
	}
	for jti, v := range raw.Sets {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return PollResponse{}, fmt.Errorf("ssf: poll response SET %.64q is not a string", jti)
		}
		if jti == "" || len(jti) > maxClaimLen {
			return PollResponse{}, errors.New("ssf: poll response holds an empty or over-long jti")
		}
		out.Sets[jti] = s
	}
	return out, nil
}

// PollReport says what one Poll did.
type PollReport struct {
	// Received counts the SETs the transmitter returned.
	Received int
	// Results holds the Receiver's result per jti.
	Results map[string]Result
	// Acked and Reported count the acknowledgements and setErrs sent with
	// this request (for SETs of earlier requests).
	Acked, Reported int
	// MoreAvailable is the transmitter's moreAvailable.
	MoreAvailable bool
}

// PollError is a poll request the transmitter answered with an error
// status.
type PollError struct {
	Status     int
	RetryAfter time.Duration
	// Body is the start of the response body, for diagnostics.
	Body string
}

// Error describes the status.
func (e *PollError) Error() string {
	return fmt.Sprintf("ssf: poll endpoint answered status %d: %s", e.Status, e.Body)
}

// Permanent reports whether retrying cannot help (400, 401, 403, 404).
func (e *PollError) Permanent() bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// Poll sends one request: the acknowledgements and errors of earlier SETs,
// and a request for up to MaxEvents new ones, which it hands to the
// Receiver. Acknowledgements stay pending until a request carrying them
// succeeds. When ctx ends, Poll returns ctx.Err(); SETs not yet processed
// are offered again by the transmitter.
func (p *Poller) Poll(ctx context.Context) (PollReport, error) {
	return p.poll(ctx, p.cfg.MaxEvents, p.cfg.ReturnImmediately)
}

func (p *Poller) poll(ctx context.Context, maxEvents int, immediate bool) (PollReport, error) {
	body := pollRequest{MaxEvents: &maxEvents, ReturnImmediately: immediate, Ack: slices.Clone(p.acks)}
	if len(p.errs) > 0 {
		body.SetErrs = maps.Clone(p.errs)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return PollReport{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, pollRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, p.cfg.Endpoint, bytes.NewReader(b))
	if err != nil {
		return PollReport{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if p.cfg.Authorization != "" {
		req.Header.Set("Authorization", p.cfg.Authorization)
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return PollReport{}, ctx.Err()
		}
		return PollReport{}, fmt.Errorf("ssf: poll request: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPollBodyBytes+1))
	if err != nil {
		return PollReport{}, fmt.Errorf("ssf: reading the poll response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		pe := &PollError{Status: resp.StatusCode, Body: string(data[:min(len(data), 200)])}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			pe.RetryAfter = time.Duration(s) * time.Second
		}
		return PollReport{}, pe
	}
	if len(data) > maxPollBodyBytes {
		return PollReport{}, fmt.Errorf("ssf: poll response larger than %d bytes", maxPollBodyBytes)
	}
	// The transmitter has our acknowledgements and errors now.
	rep := PollReport{Acked: len(body.Ack), Reported: len(body.SetErrs)}
	p.acks = p.acks[len(body.Ack):]
	for jti := range body.SetErrs {
		delete(p.errs, jti)
	}
	pr, err := DecodePollResponse(data)
	if err != nil {
		return rep, err
	}
	rep.Received, rep.MoreAvailable = len(pr.Sets), pr.MoreAvailable
	rep.Results = make(map[string]Result, len(pr.Sets))
	for _, jti := range slices.Sorted(maps.Keys(pr.Sets)) {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		res := p.rcv.Process(ctx, []byte(pr.Sets[jti]), DeliveryPolled)
		rep.Results[jti] = res
		var se *Error
		switch {
		case res.Acknowledge():
			if len(p.acks) < maxPendingAcks {
				p.acks = append(p.acks, jti)
			}
		case res.Outcome == OutcomeRejected && errors.As(res.Err, &se):
			if len(p.errs) < maxPendingAcks {
				p.errs[jti] = pushError{Err: se.Code, Description: se.Description}
			}
		}
	}
	return rep, nil
}

// Pending returns the jtis whose acknowledgement has not been sent yet.
func (p *Poller) Pending() []string { return slices.Clone(p.acks) }

// Run polls until ctx ends. After a poll that returned SETs or said more
// are available it polls again at once; after an empty poll or a failure
// it waits MinBackoff, doubling up to MaxBackoff (or the transmitter's
// Retry-After, if longer). When ctx ends it sends pending
// acknowledgements in one last ack-only request (maxEvents 0, bounded to
// 10 seconds) and returns nil. A permanent failure (400, 401, 403, 404)
// stops it with that error.
func (p *Poller) Run(ctx context.Context) error {
	wait := time.Duration(0)
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return p.flush(ctx)
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return p.flush(ctx)
		}
		rep, err := p.Poll(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return p.flush(ctx)
		case err != nil:
			var pe *PollError
			if errors.As(err, &pe) && pe.Permanent() {
				return err
			}
			wait = p.next(wait)
			if errors.As(err, &pe) && pe.RetryAfter > wait {
				wait = pe.RetryAfter
			}
			p.log.Warn("poll failed; backing off", "err", err, "wait", wait)
		case rep.Received > 0 || rep.MoreAvailable:
			wait = 0
		default:
			wait = p.next(wait)
		}
	}
}

func (p *Poller) next(wait time.Duration) time.Duration {
	if wait == 0 {
		return p.cfg.MinBackoff
	}
	return min(wait*2, p.cfg.MaxBackoff)
}

// flush sends pending acknowledgements and errors once, without asking for
// SETs.
func (p *Poller) flush(ctx context.Context) error {
	if len(p.acks) == 0 && len(p.errs) == 0 {
		return nil
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := p.poll(fctx, 0, true); err != nil {
		p.log.Warn("could not send the last acknowledgements; the transmitter will offer those SETs again", "err", err)
	}
	return nil
}

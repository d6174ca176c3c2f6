package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
)

// Poller defaults.
const (
	DefaultPollInterval = 15 * time.Second
	DefaultPollLimit    = 100
	defaultSeen         = 10000
	maxPollBackoff      = 5 * time.Minute
)

// DefaultCursorKey returns the key under which a poller of the org at host
// ("example.okta.com") keeps its cursor when PollerConfig.CursorKey is
// empty.
func DefaultCursorKey(host string) string { return "okta/" + host + "/system-log/next" }

// PollerConfig configures a System Log poller. The zero value polls from
// now, every DefaultPollInterval, keeping its cursor in memory.
type PollerConfig struct {
	// Store keeps the cursor (the next link) under CursorKey, so that a
	// restarted poller resumes where it stopped. Nil means a cursor.Memory
	// of the poller's own (the cursor is lost on restart).
	Store cursor.Store
	// CursorKey is the key of the cursor in Store. Default
	// DefaultCursorKey(org host), so that pollers of several orgs can
	// share one store.
	CursorKey string
	// Since is where a poller without a stored cursor starts. Zero means
	// the time Run starts.
	Since time.Time
	// Interval is the wait after a page that was not full. Default
	// DefaultPollInterval.
	Interval time.Duration
	// Limit is the page size (1–1000). Default DefaultPollLimit.
	Limit int
	// Filter is a System Log filter expression added to the first request
	// (the next links keep it).
	Filter string
	// Logger receives diagnostics (never credentials). Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Poller is a playbook.Trigger that reads the System Log in polling mode:
// one request with since, then the rel="next" link forever (in polling
// mode the next link is always present, even on an empty page). Events
// are mapped with the provider's Mapper; events about nobody or of other
// types are skipped. Each event uuid is emitted at most once per process
// (the runner de-duplicates across restarts by the same id).
//
// The cursor advances past a page, and is saved to the Store, only once
// every event of the page was emitted and emit returned nil,
// playbook.ErrDuplicate or an invalid-event error; any other emit error
// makes the poller retry the page after a backoff. Read errors are
// retried with backoff (throttling waits for the bucket's reset);
// authentication and permission errors stop Run with the error.
type Poller struct {
	p       *Provider
	cfg     PollerConfig
	log     *slog.Logger
	seen    *seenSet
	running chan struct{}
	saved   bool // the cursor was stored since Run started (Run's goroutine only)
}

// Poller returns a System Log poller over the provider. The error names a
// bad field.
func (p *Provider) Poller(cfg PollerConfig) (*Poller, error) {
	if cfg.Store == nil {
		cfg.Store = &cursor.Memory{}
	}
	if cfg.CursorKey == "" {
		cfg.CursorKey = DefaultCursorKey(p.c.base.Host)
	}
	if cfg.Interval < 0 {
		return nil, errors.New("okta: PollerConfig.Interval is negative")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultPollInterval
	}
	if cfg.Limit < 0 || cfg.Limit > 1000 {
		return nil, fmt.Errorf("okta: PollerConfig.Limit %d is outside 1–1000", cfg.Limit)
	}
	if cfg.Limit == 0 {
		cfg.Limit = DefaultPollLimit
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	return &Poller{p: p, cfg: cfg, log: lg.With("trigger", "okta-system-log"), seen: newSeenSet(defaultSeen), running: make(chan struct{}, 1)}, nil
}

var _ playbook.Trigger = (*Poller)(nil)

// Run polls until ctx ends, then returns nil. It returns an error when the
// credentials are refused, when the cursor cannot be read or saved, or
// when another Run of the same Poller is active.
func (pl *Poller) Run(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
	if emit == nil {
		return errors.New("okta: Poller.Run: emit is nil")
	}
	select {
	case pl.running <- struct{}{}:
		defer func() { <-pl.running }()
	default:
		return errors.New("okta: Poller.Run: already running")
	}
	pl.saved = false
	next, ok, err := pl.cfg.Store.Get(ctx, pl.cfg.CursorKey)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("okta: reading the System Log cursor: %w", err)
	}
	if !ok || next == "" {
		since := pl.cfg.Since
		if since.IsZero() {
			since = time.Now()
		}
		q := url.Values{"since": {since.UTC().Format(time.RFC3339Nano)}, "limit": {strconv.Itoa(pl.cfg.Limit)}, "sortOrder": {"ASCENDING"}}
		if pl.cfg.Filter != "" {
			q.Set("filter", pl.cfg.Filter)
		}
		next = "/api/v1/logs?" + q.Encode()
	}
	failures := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		wait, err := pl.page(ctx, &next, emit)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, playbook.ErrUnauthenticated) || errors.Is(err, playbook.ErrPermissionDenied) || errors.Is(err, errCursor) {
				return err
			}
			failures++
			wait = backoff(pl.cfg.Interval, failures)
			if d, ok := playbook.RetryAfter(err); ok && d > wait {
				wait = d
			}
			pl.log.Warn("okta: System Log poll failed; retrying", "error", err, "wait", wait)
		} else {
			failures = 0
		}
		if wait > 0 && sleepCtx(ctx, wait) != nil {
			return nil
		}
	}
}

var errCursor = errors.New("okta: saving the System Log cursor")

func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < maxPollBackoff; i++ {
		d *= 2
	}
	return min(d, maxPollBackoff)
}

// page fetches one page, emits its events and advances the cursor. It
// returns how long to wait before the next page.
func (pl *Poller) page(ctx context.Context, next *string, emit func(context.Context, playbook.Event) error) (time.Duration, error) {
	path, q := *next, url.Values(nil)
	if u, err := url.Parse(path); err == nil && !u.IsAbs() {
		path, q = u.Path, u.Query()
	}
	resp, err := pl.p.c.do(ctx, call{op: "GET /api/v1/logs", method: http.MethodGet, path: path, query: q, scope: ScopeLogsRead})
	if err != nil {
		return 0, err
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(resp.body, &raws); err != nil {
		return 0, pl.p.c.badReply("GET /api/v1/logs", resp.status, fmt.Errorf("%w: log events: %v", ErrBadPayload, err))
	}
	for i, raw := range raws {
		e, err := DecodeLogEvent(raw)
		if err != nil {
			// One malformed event must not stall the log forever.
			pl.log.Warn("okta: skipping a malformed System Log event", "index", i, "error", err)
			continue
		}
		if err := pl.deliver(ctx, e, emit); err != nil {
			return 0, err
		}
	}
	link := resp.next()
	if link == "" {
		return 0, pl.p.c.badReply("GET /api/v1/logs", resp.status, errors.New("polling-mode response has no rel=\"next\" link"))
	}
	if link != *next || !pl.saved {
		if err := pl.cfg.Store.Put(ctx, pl.cfg.CursorKey, link); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("%w: %w", errCursor, err)
		}
		*next, pl.saved = link, true
	}
	if len(raws) >= pl.cfg.Limit {
		return 0, nil // more may be waiting
	}
	return pl.cfg.Interval, nil
}

// deliver maps and emits one event unless its uuid was seen.
func (pl *Poller) deliver(ctx context.Context, e LogEvent, emit func(context.Context, playbook.Event) error) error {
	if !pl.seen.add(e.UUID) {
		return nil
	}
	ev, ok, err := pl.p.mapper.Map(e)
	if err != nil {
		pl.log.Warn("okta: skipping an event whose details cannot be parsed", "uuid", e.UUID, "eventType", e.EventType, "error", err)
		return nil
	}
	if !ok {
		return nil
	}
	ev.Source = "okta/system-log"
	if err := emit(ctx, ev); err != nil && !errors.Is(err, playbook.ErrDuplicate) && !errors.Is(err, playbook.ErrInvalidEvent) {
		pl.seen.forget(e.UUID)
		return fmt.Errorf("okta: event %s refused: %w", e.UUID, err)
	}
	return nil
}

package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
)

// PollOptions configure a polling trigger. The zero value polls every five
// minutes, keeps its cursor in memory and starts 24 hours back.
type PollOptions struct {
	// Interval is the time between polls. Default 5 minutes.
	Interval time.Duration
	// Cursors persists the cursor, under the poller's CursorKey. Default
	// a cursor.Memory of the trigger's own (lost on restart); a host that
	// must resume after a restart passes a durable store, such as its
	// SQLite run store or a cursor.File.
	Cursors cursor.Store
	// Lookback is how far back the first poll (without a stored cursor)
	// starts. Default 24 hours.
	Lookback time.Duration
	// PageSize is the $top of each request. Default and maximum 500 (the
	// limit of /identityProtection/riskDetections).
	PageSize int
	// OnError is told about every record that does not decode (it is
	// skipped and the poller goes on) and every failed poll (retried at
	// the next interval). Default: log at warning level. It must not
	// block for long.
	OnError func(ctx context.Context, err error)
}

// position is what a poller persists: the latest record time it has
// processed and the ids of the records at exactly that time (the next
// poll's "ge" filter returns them again).
type position struct {
	Since time.Time `json:"since"`
	Seen  []string  `json:"seen,omitempty"`
}

type decodeFunc func(raw json.RawMessage) (ev playbook.Event, ok bool, err error)

// Poller is a playbook.Trigger that polls one Graph log or report. It is
// safe to run once at a time per cursor key; its cursor survives restarts
// when PollOptions.Cursors is durable.
type Poller struct {
	c         *Client
	key       string
	path      string
	timeField string
	decode    decodeFunc
	opts      PollOptions
}

var _ playbook.Trigger = (*Poller)(nil)

func (c *Client) poller(name, path, timeField string, opts PollOptions, decode decodeFunc) *Poller {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Minute
	}
	if opts.Cursors == nil {
		opts.Cursors = &cursor.Memory{}
	}
	if opts.Lookback <= 0 {
		opts.Lookback = 24 * time.Hour
	}
	if opts.PageSize <= 0 || opts.PageSize > MaxRiskDetectionPage {
		opts.PageSize = MaxRiskDetectionPage
	}
	p := &Poller{c: c, key: "entra/" + c.tenant + "/" + name, path: path, timeField: timeField, decode: decode, opts: opts}
	if p.opts.OnError == nil {
		p.opts.OnError = func(ctx context.Context, err error) {
			c.log.WarnContext(ctx, "entra: trigger", "trigger", name, "err", err)
		}
	}
	return p
}

// RiskDetectionsTrigger polls /identityProtection/riskDetections (by
// detectedDateTime) and emits DecodeRiskDetection's events. Requests go
// through the Identity Protection limiter.
func (c *Client) RiskDetectionsTrigger(opts PollOptions) *Poller {
	return c.poller("riskDetections", "/identityProtection/riskDetections", "detectedDateTime", opts, func(raw json.RawMessage) (playbook.Event, bool, error) {
		ev, err := DecodeRiskDetection(raw)
		return ev, err == nil, err
	})
}

// RiskyUsersTrigger polls /identityProtection/riskyUsers (by
// riskLastUpdatedDateTime) and emits DecodeRiskyUser's events for users
// whose risk is open (a closed state emits nothing).
func (c *Client) RiskyUsersTrigger(opts PollOptions) *Poller {
	return c.poller("riskyUsers", "/identityProtection/riskyUsers", "riskLastUpdatedDateTime", opts, func(raw json.RawMessage) (playbook.Event, bool, error) {
		ev, err := DecodeRiskyUser(raw)
		if err != nil {
			return ev, false, err
		}
		return ev, ev.Risk > playbook.RiskNone, nil
	})
}

// DirectoryAuditTrigger polls /auditLogs/directoryAudits (by
// activityDateTime) and emits the privilege changes DecodeDirectoryAudit
// finds, judged with the client's PrivilegedRoleTemplates and
// PrivilegedGroups. Role assignments of roles outside
// PrivilegedRoleTemplates are emitted only when allRoles is true.
func (c *Client) DirectoryAuditTrigger(opts PollOptions, allRoles bool) *Poller {
	ao := AuditOptions{PrivilegedRoles: mapKeys(c.privileged), PrivilegedGroups: mapKeys(c.privGroups)}
	return c.poller("directoryAudits", "/auditLogs/directoryAudits", "activityDateTime", opts, func(raw json.RawMessage) (playbook.Event, bool, error) {
		ev, ok, err := DecodeDirectoryAudit(raw, ao)
		if ok && ev.Type == playbook.EventRoleAssigned && ev.Attributes["privileged"] != "true" && !allRoles {
			ok = false
		}
		return ev, ok, err
	})
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// CursorKey returns the key the poller stores its cursor under:
// "entra/{tenant}/{source}".
func (p *Poller) CursorKey() string { return p.key }

// Run polls until ctx ends, then returns nil. A failed poll is reported to
// OnError and retried at the next interval, or after Graph's Retry-After
// when that is longer; emit errors other than playbook.ErrDuplicate and
// playbook.ErrInvalidEvent stop the current poll without advancing the
// cursor past the refused event.
func (p *Poller) Run(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
	for {
		wait := p.opts.Interval
		if err := p.Poll(ctx, emit); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.opts.OnError(ctx, err)
			if d, ok := playbook.RetryAfter(err); ok && d > wait {
				wait = d
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Poll runs one poll: it reads every page of records at or after the
// cursor, emits the new ones in time order, and stores the advanced
// cursor. Records that do not decode are reported to OnError and skipped.
// It returns the first error of Graph, of the cursor store, or of emit.
func (p *Poller) Poll(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
	cur, err := p.load(ctx)
	if err != nil {
		return err
	}
	type item struct {
		raw json.RawMessage
		id  string
		at  time.Time
	}
	var items []item
	filter := p.timeField + " ge " + odataTime(cur.Since)
	err = p.c.list(ctx, request{op: "poll " + p.path, method: http.MethodGet, path: p.path,
		query: url.Values{"$filter": {filter}, "$top": {strconv.Itoa(p.opts.PageSize)}}},
		func(raw json.RawMessage) error {
			var head map[string]json.RawMessage
			if err := json.Unmarshal(raw, &head); err != nil {
				p.opts.OnError(ctx, fmt.Errorf("%w: %s: item is not a JSON object", ErrBadRecord, p.path))
				return nil
			}
			var id, ts string
			_ = json.Unmarshal(head["id"], &id)
			_ = json.Unmarshal(head[p.timeField], &ts)
			at, terr := ParseTime(ts)
			if id == "" || terr != nil {
				p.opts.OnError(ctx, fmt.Errorf("%w: %s: item %q has no id or no valid %s", ErrBadRecord, p.path, truncate(id, 64), p.timeField))
				return nil
			}
			items = append(items, item{raw: raw, id: id, at: at})
			return nil
		})
	if err != nil {
		return err
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	var emitErr error
	changed := false
	for _, it := range items {
		if it.at.Before(cur.Since) || (it.at.Equal(cur.Since) && slices.Contains(cur.Seen, it.id)) {
			continue
		}
		ev, ok, derr := p.decode(it.raw)
		switch {
		case derr != nil:
			p.opts.OnError(ctx, derr)
		case ok:
			if err := emit(ctx, ev); err != nil && !errors.Is(err, playbook.ErrDuplicate) && !errors.Is(err, playbook.ErrInvalidEvent) {
				emitErr = fmt.Errorf("entra: %s: event %s refused: %w", p.path, ev.ID, err)
			}
		}
		if emitErr != nil {
			break
		}
		if it.at.After(cur.Since) {
			cur = position{Since: it.at, Seen: []string{it.id}}
		} else {
			cur.Seen = append(cur.Seen, it.id)
		}
		changed = true
	}
	if changed {
		if err := p.save(ctx, cur); err != nil {
			return errors.Join(emitErr, err)
		}
	}
	return emitErr
}

func (p *Poller) load(ctx context.Context) (position, error) {
	v, ok, err := p.opts.Cursors.Get(ctx, p.key)
	if err != nil {
		return position{}, fmt.Errorf("entra: loading cursor %q: %w", p.key, err)
	}
	if !ok {
		return position{Since: time.Now().Add(-p.opts.Lookback).UTC()}, nil
	}
	var c position
	if err := json.Unmarshal([]byte(v), &c); err != nil || c.Since.IsZero() {
		return position{}, fmt.Errorf("entra: cursor %q is corrupt (%q); delete it to start over", p.key, truncate(v, 80))
	}
	return c, nil
}

func (p *Poller) save(ctx context.Context, c position) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := p.opts.Cursors.Put(context.WithoutCancel(ctx), p.key, string(b)); err != nil {
		return fmt.Errorf("entra: storing cursor %q: %w", p.key, err)
	}
	return nil
}

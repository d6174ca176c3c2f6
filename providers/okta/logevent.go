package okta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadPayload is wrapped by every error of DecodeLogEvent, DecodeLogEvents
// and DecodeEventHook.
var ErrBadPayload = errors.New("okta: malformed payload")

// Size bounds of the decoders.
const (
	// MaxLogEventBytes bounds one System Log event.
	MaxLogEventBytes = 1 << 20
	// MaxEventHookBytes bounds one Event Hook delivery.
	MaxEventHookBytes = 8 << 20
)

// LogEvent is one System Log event (LogEvent in the Management API), as
// GET /api/v1/logs returns it and Event Hooks deliver it in data.events.
// Only the fields the provider uses are typed; Raw keeps the whole event.
type LogEvent struct {
	UUID                  string                 `json:"uuid"`
	Published             time.Time              `json:"published"`
	EventType             string                 `json:"eventType"`
	Version               flexString             `json:"version"`
	Severity              string                 `json:"severity"`
	LegacyEventType       string                 `json:"legacyEventType"`
	DisplayMessage        string                 `json:"displayMessage"`
	Actor                 Actor                  `json:"actor"`
	Client                *LogClient             `json:"client"`
	Outcome               *Outcome               `json:"outcome"`
	Target                []Actor                `json:"target"`
	Transaction           *Transaction           `json:"transaction"`
	DebugContext          *DebugContext          `json:"debugContext"`
	AuthenticationContext *AuthenticationContext `json:"authenticationContext"`
	Request               *LogRequest            `json:"request"`

	// Raw is the event as received.
	Raw json.RawMessage `json:"-"`
}

// Actor is an actor or target of a LogEvent.
type Actor struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	AlternateID string `json:"alternateId"`
	DisplayName string `json:"displayName"`
}

// LogClient is the client (user agent, IP, location) of a LogEvent.
type LogClient struct {
	IPAddress           string               `json:"ipAddress"`
	Device              string               `json:"device"`
	UserAgent           *UserAgent           `json:"userAgent"`
	GeographicalContext *GeographicalContext `json:"geographicalContext"`
}

// UserAgent is the client's user agent.
type UserAgent struct {
	RawUserAgent string `json:"rawUserAgent"`
	OS           string `json:"os"`
	Browser      string `json:"browser"`
}

// GeographicalContext locates a client.
type GeographicalContext struct {
	City    string `json:"city"`
	State   string `json:"state"`
	Country string `json:"country"`
}

// Outcome is the result of the logged operation.
type Outcome struct {
	Result string `json:"result"`
	Reason string `json:"reason"`
}

// Transaction groups events of one request.
type Transaction struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// DebugContext carries debugData: mostly strings, some of them encoded
// (see ParseDebugMap and ThreatDetections).
type DebugContext struct {
	DebugData map[string]json.RawMessage `json:"debugData"`
}

// AuthenticationContext of a LogEvent.
type AuthenticationContext struct {
	ExternalSessionID string `json:"externalSessionId"`
}

// LogRequest carries the request's IP chain.
type LogRequest struct {
	IPChain []struct {
		IP string `json:"ip"`
	} `json:"ipChain"`
}

// flexString accepts a JSON string or number (version is a string in the
// API schema, a number in some exports).
type flexString string

// UnmarshalJSON accepts a string, a number or null.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("version must be a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

// Debug returns debugData[key] as a string: a JSON string as is, any other
// JSON value in its JSON form, "" when missing or null.
func (e *LogEvent) Debug(key string) string {
	if e.DebugContext == nil {
		return ""
	}
	raw, ok := e.DebugContext.DebugData[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return ""
	}
	return string(raw)
}

// Users returns the event's targets of type User.
func (e *LogEvent) Users() []Actor {
	var out []Actor
	for _, t := range e.Target {
		if strings.EqualFold(t.Type, "User") && t.ID != "" {
			out = append(out, t)
		}
	}
	return out
}

// IP returns the client's IP address, or the first of the request's IP
// chain.
func (e *LogEvent) IP() string {
	if e.Client != nil && e.Client.IPAddress != "" {
		return e.Client.IPAddress
	}
	if e.Request != nil && len(e.Request.IPChain) > 0 {
		return e.Request.IPChain[0].IP
	}
	return ""
}

// Location returns "city, state, country" from the client's geographical
// context, skipping empty parts.
func (e *LogEvent) Location() string {
	if e.Client == nil || e.Client.GeographicalContext == nil {
		return ""
	}
	g := e.Client.GeographicalContext
	var parts []string
	for _, p := range []string{g.City, g.State, g.Country} {
		if p != "" && p != "null" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// DecodeLogEvent parses one System Log event. It requires uuid, eventType
// and published, bounds the size by MaxLogEventBytes, and keeps the input
// in Raw. Errors wrap ErrBadPayload and name what is wrong.
func DecodeLogEvent(data []byte) (LogEvent, error) {
	if len(data) > MaxLogEventBytes {
		return LogEvent{}, fmt.Errorf("%w: event is %d bytes, at most %d allowed", ErrBadPayload, len(data), MaxLogEventBytes)
	}
	var e LogEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return LogEvent{}, fmt.Errorf("%w: log event: %v", ErrBadPayload, err)
	}
	if err := e.check(); err != nil {
		return LogEvent{}, err
	}
	e.Raw = bytes.Clone(data)
	return e, nil
}

func (e *LogEvent) check() error {
	switch {
	case strings.TrimSpace(e.UUID) == "":
		return fmt.Errorf("%w: log event has no uuid", ErrBadPayload)
	case len(e.UUID) > 256:
		return fmt.Errorf("%w: log event uuid is longer than 256 bytes", ErrBadPayload)
	case strings.TrimSpace(e.EventType) == "":
		return fmt.Errorf("%w: log event %s has no eventType", ErrBadPayload, e.UUID)
	case e.Published.IsZero():
		return fmt.Errorf("%w: log event %s has no published time", ErrBadPayload, e.UUID)
	}
	return nil
}

// DecodeLogEvents parses the JSON array GET /api/v1/logs returns; each
// element is checked as DecodeLogEvent checks one.
func DecodeLogEvents(data []byte) ([]LogEvent, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("%w: log events: %v", ErrBadPayload, err)
	}
	out := make([]LogEvent, 0, len(raws))
	for i, r := range raws {
		e, err := DecodeLogEvent(r)
		if err != nil {
			return nil, fmt.Errorf("log event %d: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// EventHook is one Event Hook delivery: a CloudEvents-style envelope whose
// data.events holds System Log events.
type EventHook struct {
	EventType          string     `json:"eventType"`
	EventTypeVersion   string     `json:"eventTypeVersion"`
	CloudEventsVersion string     `json:"cloudEventsVersion"`
	Source             string     `json:"source"`
	EventID            string     `json:"eventId"`
	EventTime          time.Time  `json:"eventTime"`
	ContentType        string     `json:"contentType"`
	Events             []LogEvent `json:"-"`
}

// EventHookType is the envelope's eventType.
const EventHookType = "com.okta.event_hook"

// DecodeEventHook parses an Event Hook delivery body. It requires the
// envelope's eventType to be com.okta.event_hook and data.events to be an
// array of valid log events (see DecodeLogEvent); the body is bounded by
// MaxEventHookBytes. Errors wrap ErrBadPayload.
func DecodeEventHook(data []byte) (EventHook, error) {
	if len(data) > MaxEventHookBytes {
		return EventHook{}, fmt.Errorf("%w: event hook body is %d bytes, at most %d allowed", ErrBadPayload, len(data), MaxEventHookBytes)
	}
	var env struct {
		EventHook
		Data *struct {
			Events *[]json.RawMessage `json:"events"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return EventHook{}, fmt.Errorf("%w: event hook: %v", ErrBadPayload, err)
	}
	h := env.EventHook
	if h.EventType != EventHookType {
		return EventHook{}, fmt.Errorf("%w: event hook eventType is %q, want %q", ErrBadPayload, h.EventType, EventHookType)
	}
	if env.Data == nil || env.Data.Events == nil {
		return EventHook{}, fmt.Errorf("%w: event hook has no data.events array", ErrBadPayload)
	}
	for i, r := range *env.Data.Events {
		e, err := DecodeLogEvent(r)
		if err != nil {
			return EventHook{}, fmt.Errorf("event hook data.events[%d]: %w", i, err)
		}
		h.Events = append(h.Events, e)
	}
	return h, nil
}

// ParseDebugMap parses the Java-map-style strings Okta puts in some
// debugData values, such as risk:
//
//	{previousLevel=LOW, level=MEDIUM, detectionName=Session Influenced User Risk, reasons=Anomalous Location, New Device, issuer=OKTA}
//
// Entries are split at ", " before a "key=" at the top nesting level, so
// values may hold commas and nested {} or [] groups, which are kept as
// text. Surrounding braces are optional. An entry without "=" is an error
// naming it.
func ParseDebugMap(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		if !strings.HasSuffix(s, "}") {
			return nil, fmt.Errorf("%w: debug map %.60q opens a brace it does not close", ErrBadPayload, s)
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	// Split at top-level commas, then glue pieces that do not start a new
	// key back onto the previous value.
	var pieces []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				pieces = append(pieces, s[start:i])
				start = i + 1
			}
		}
	}
	pieces = append(pieces, s[start:])
	key := ""
	for _, p := range pieces {
		t := strings.TrimSpace(p)
		if k, v, ok := strings.Cut(t, "="); ok && isDebugKey(k) {
			key = k
			out[key] = strings.TrimSpace(v)
			continue
		}
		if key == "" {
			return nil, fmt.Errorf("%w: debug map entry %.60q has no key=value form", ErrBadPayload, t)
		}
		out[key] += "," + p
	}
	return out, nil
}

func isDebugKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i, r := range k {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// ParseThreatDetections parses debugData.threatDetections, a JSON object
// encoded as a string, into detection name → level ("HIGH", "MEDIUM",
// "LOW"). Non-string values are kept in their JSON form.
func ParseThreatDetections(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return map[string]string{}, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("%w: threatDetections is not a JSON object: %v", ErrBadPayload, err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var str string
		if json.Unmarshal(v, &str) == nil {
			out[k] = str
		} else {
			out[k] = string(v)
		}
	}
	return out, nil
}

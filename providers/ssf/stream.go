package ssf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Audience is an aud value: one string or an array on the wire. It
// marshals a single entry as a string.
type Audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// MarshalJSON writes one entry as a string, several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// StreamDelivery is a stream's delivery configuration.
type StreamDelivery struct {
	// Method is DeliveryPush or DeliveryPoll.
	Method string `json:"method"`
	// EndpointURL is the receiver's push URL (push), or the transmitter's
	// poll URL (poll, set by the transmitter).
	EndpointURL string `json:"endpoint_url,omitempty"`
	// AuthorizationHeader is what the transmitter sends as Authorization
	// when it pushes. A secret: never logged.
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

// StreamConfig is an SSF stream configuration (SSF 1.0 section 8.1.1).
// Members the transmitter sets are read back; unknown members are ignored.
type StreamConfig struct {
	StreamID                string          `json:"stream_id,omitempty"`
	Issuer                  string          `json:"iss,omitempty"`
	Audience                Audience        `json:"aud,omitempty"`
	EventsSupported         []string        `json:"events_supported,omitempty"`
	EventsRequested         []string        `json:"events_requested,omitempty"`
	EventsDelivered         []string        `json:"events_delivered,omitempty"`
	Delivery                *StreamDelivery `json:"delivery,omitempty"`
	MinVerificationInterval int             `json:"min_verification_interval,omitempty"`
	Description             string          `json:"description,omitempty"`
}

// StreamStatus is a stream's status: "enabled", "paused" or "disabled".
type StreamStatus struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// StreamError is a stream management request the transmitter refused.
type StreamError struct {
	// Op names the request ("create stream", "stream status", ...).
	Op string
	// Status is the HTTP status (409 when the receiver already has a
	// stream, 429 when verification is requested too often).
	Status int
	// Body is the start of the response body.
	Body string
}

// Error describes the refusal.
func (e *StreamError) Error() string {
	return fmt.Sprintf("ssf: %s: status %d: %s", e.Op, e.Status, e.Body)
}

// StreamClient manages the receiver's stream at a transmitter through the
// endpoints of its configuration metadata. It is safe for concurrent use.
type StreamClient struct {
	md     Metadata
	client *http.Client
	auth   string
}

// NewStreamClient returns a client for the transmitter described by md,
// sending authorization (for example "Bearer <token>", never logged) with
// every request. client nil means http.DefaultClient. The error names a
// missing endpoint.
func NewStreamClient(md *Metadata, client *http.Client, authorization string) (*StreamClient, error) {
	if md == nil {
		return nil, errors.New("ssf: NewStreamClient needs the transmitter's metadata")
	}
	if _, err := checkURL("configuration_endpoint", md.ConfigurationEndpoint); err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &StreamClient{md: *md, client: client, auth: authorization}, nil
}

// CreateStream asks the transmitter for a stream (POST to the
// configuration endpoint) and returns the configuration it created (201).
func (c *StreamClient) CreateStream(ctx context.Context, cfg StreamConfig) (StreamConfig, error) {
	var out StreamConfig
	err := c.do(ctx, "create stream", http.MethodPost, c.md.ConfigurationEndpoint, cfg, &out, http.StatusCreated, http.StatusOK)
	return out, err
}

// Stream reads the configuration of stream id.
func (c *StreamClient) Stream(ctx context.Context, id string) (StreamConfig, error) {
	var out StreamConfig
	err := c.do(ctx, "read stream", http.MethodGet, withStreamID(c.md.ConfigurationEndpoint, id), nil, &out, http.StatusOK)
	return out, err
}

// Status reads the status of stream id from the status endpoint.
func (c *StreamClient) Status(ctx context.Context, id string) (StreamStatus, error) {
	if c.md.StatusEndpoint == "" {
		return StreamStatus{}, errors.New("ssf: the transmitter advertises no status_endpoint")
	}
	var out StreamStatus
	err := c.do(ctx, "stream status", http.MethodGet, withStreamID(c.md.StatusEndpoint, id), nil, &out, http.StatusOK)
	return out, err
}

// RequestVerification asks the transmitter to send a verification event
// carrying state on stream id (204). A 429 means the stream's
// min_verification_interval has not passed.
func (c *StreamClient) RequestVerification(ctx context.Context, id, state string) error {
	if c.md.VerificationEndpoint == "" {
		return errors.New("ssf: the transmitter advertises no verification_endpoint")
	}
	body := map[string]string{"stream_id": id}
	if state != "" {
		body["state"] = state
	}
	return c.do(ctx, "request verification", http.MethodPost, c.md.VerificationEndpoint, body, nil, http.StatusNoContent, http.StatusOK)
}

func withStreamID(endpoint, id string) string {
	u, err := url.Parse(endpoint)
	if err != nil || id == "" {
		return endpoint
	}
	q := u.Query()
	q.Set("stream_id", id)
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *StreamClient) do(ctx context.Context, op, method, u string, in, out any, ok ...int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("ssf: %s: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("ssf: %s: %w", op, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("ssf: %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes))
	if err != nil {
		return fmt.Errorf("ssf: %s: reading the response: %w", op, err)
	}
	good := false
	for _, s := range ok {
		good = good || resp.StatusCode == s
	}
	if !good {
		return &StreamError{Op: op, Status: resp.StatusCode, Body: string(data[:min(len(data), 200)])}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("ssf: %s: the response is not the expected JSON: %v", op, err)
		}
	}
	return nil
}

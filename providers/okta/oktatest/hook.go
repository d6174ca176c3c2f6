package oktatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/iamplaybook/iamplaybook/providers/okta"
)

// HookBatch is the largest number of events one Event Hook delivery holds.
const HookBatch = 50

// EventHookBody builds an Event Hook delivery body holding events, in
// Okta's envelope.
func (s *Server) EventHookBody(events ...okta.LogEvent) []byte {
	raws := make([]json.RawMessage, 0, len(events))
	for _, e := range events {
		raw := e.Raw
		if raw == nil {
			raw, _ = json.Marshal(e)
		}
		raws = append(raws, raw)
	}
	s.mu.Lock()
	id := s.newID("evt")
	s.mu.Unlock()
	body, _ := json.Marshal(map[string]any{
		"eventType": okta.EventHookType, "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
		"source": s.URL + "/api/v1/eventHooks/whooktest00000000001", "eventId": id,
		"data": map[string]any{"events": raws}, "eventTime": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "contentType": "application/json",
	})
	return body
}

// VerifyEventHook performs the one-time verification Okta does when a hook
// is activated: a GET carrying X-Okta-Verification-Challenge (and the
// hook's auth header), expecting {"verification": challenge} back.
func VerifyEventHook(ctx context.Context, hc *http.Client, url, header, secret string) error {
	challenge := fmt.Sprintf("oktatest-challenge-%d", time.Now().UnixNano())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set(okta.VerificationHeader, challenge)
	if header != "" {
		req.Header.Set(header, secret)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Verification string `json:"verification"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("oktatest: verification failed: status %d", resp.StatusCode)
	}
	if body.Verification != challenge {
		return fmt.Errorf("oktatest: verification answered %q, want the challenge", body.Verification)
	}
	return nil
}

// PostEventHook POSTs one delivery body to url with the hook's auth header
// and returns the status code.
func PostEventHook(ctx context.Context, hc *http.Client, url, header, secret string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set(header, secret)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// DeliverEventHooks posts every System Log event appended since the last
// successful delivery (those whose eventType wanted accepts; nil accepts
// all) to url, in batches of at most HookBatch, as Okta's Event Hooks do.
// It stops at the first non-2xx answer, returning its status; delivered
// events are not sent again.
func (s *Server) DeliverEventHooks(ctx context.Context, hc *http.Client, url, header, secret string, wanted func(eventType string) bool) (int, error) {
	s.mu.Lock()
	pending := s.logs[s.hookNext:]
	pending = append([]okta.LogEvent(nil), pending...)
	base := s.hookNext
	s.mu.Unlock()
	status := http.StatusOK
	for i := 0; i < len(pending); {
		var batch []okta.LogEvent
		j := i
		for ; j < len(pending) && len(batch) < HookBatch; j++ {
			if wanted == nil || wanted(pending[j].EventType) {
				batch = append(batch, pending[j])
			}
		}
		if len(batch) > 0 {
			st, err := PostEventHook(ctx, hc, url, header, secret, s.EventHookBody(batch...))
			if err != nil {
				return 0, err
			}
			status = st
			if st < 200 || st > 299 {
				return st, nil
			}
		}
		s.mu.Lock()
		s.hookNext = max(s.hookNext, base+j)
		s.mu.Unlock()
		i = j
	}
	return status, nil
}

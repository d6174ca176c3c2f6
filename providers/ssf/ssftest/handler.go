package ssftest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/iamplaybook/iamplaybook/providers/ssf"
)

// Handler returns the transmitter's HTTP handler (what New serves).
func (t *Transmitter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/ssf-configuration", t.serveConfiguration)
	mux.HandleFunc("GET /.well-known/ssf-configuration/", t.serveConfiguration) // issuers with a path
	mux.HandleFunc("GET /jwks.json", t.serveJWKS)
	mux.HandleFunc("POST /poll", t.authorized(t.servePoll))
	mux.HandleFunc("POST /ssf/stream", t.authorized(t.createStream))
	mux.HandleFunc("GET /ssf/stream", t.authorized(t.readStream))
	mux.HandleFunc("GET /ssf/status", t.authorized(t.readStatus))
	mux.HandleFunc("POST /ssf/verify", t.authorized(t.verify))
	return mux
}

func (t *Transmitter) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if t.opts.Token != "" {
			want := "Bearer " + t.opts.Token
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
				w.Header().Set("WWW-Authenticate", "Bearer")
				http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
				return
			}
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (t *Transmitter) serveConfiguration(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"spec_version":               "1_0",
		"issuer":                     t.Issuer,
		"jwks_uri":                   t.JWKSURI(),
		"delivery_methods_supported": []string{ssf.DeliveryPush, ssf.DeliveryPoll},
		"configuration_endpoint":     t.base + "/ssf/stream",
		"status_endpoint":            t.base + "/ssf/status",
		"verification_endpoint":      t.base + "/ssf/verify",
		"authorization_schemes":      []map[string]string{{"spec_urn": "urn:ietf:rfc:6750"}},
		"default_subjects":           "ALL",
	})
}

func (t *Transmitter) serveJWKS(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.jwksFetches++
	fail := t.jwksFail > 0
	if fail {
		t.jwksFail--
	}
	set := jose.JSONWebKeySet{}
	for _, k := range t.keys {
		set.Keys = append(set.Keys, k.Public())
	}
	t.mu.Unlock()
	if fail {
		http.Error(w, "JWKS temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

func (t *Transmitter) servePoll(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MaxEvents         *int                      `json:"maxEvents"`
		ReturnImmediately bool                      `json:"returnImmediately"`
		Ack               []string                  `json:"ack"`
		SetErrs           map[string]ssfErrorObject `json:"setErrs"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"err": "invalid_request", "description": "the poll request is not valid JSON"})
		return
	}
	call := PollCall{MaxEvents: req.MaxEvents, ReturnImmediately: req.ReturnImmediately, Ack: req.Ack, SetErrs: map[string]PushResult{}, Authorization: t.opts.Token != ""}
	for jti, e := range req.SetErrs {
		call.SetErrs[jti] = PushResult{Status: http.StatusBadRequest, Err: e.Err, Description: e.Description}
	}
	t.mu.Lock()
	t.polls = append(t.polls, call)
	done := map[string]bool{}
	for _, jti := range req.Ack {
		done[jti] = true
		t.acked = append(t.acked, jti)
	}
	for jti, e := range call.SetErrs {
		done[jti] = true
		t.setErrs[jti] = e
	}
	kept := t.queue[:0]
	for _, q := range t.queue {
		if !done[q.jti] {
			kept = append(kept, q)
		}
	}
	t.queue = kept
	empty := len(t.queue) == 0
	t.mu.Unlock()

	max := 25 // the transmitter's default batch
	if req.MaxEvents != nil {
		max = *req.MaxEvents
	}
	if empty && max > 0 && !req.ReturnImmediately && t.opts.LongPoll > 0 {
		timer := time.NewTimer(t.opts.LongPoll)
		select {
		case <-t.notify:
		case <-timer.C:
		case <-r.Context().Done():
		}
		timer.Stop()
	}
	resp := ssf.PollResponse{Sets: map[string]string{}}
	t.mu.Lock()
	for _, q := range t.queue {
		if len(resp.Sets) == max {
			resp.MoreAvailable = true
			break
		}
		resp.Sets[q.jti] = q.token
	}
	t.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

type ssfErrorObject struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

func (t *Transmitter) createStream(w http.ResponseWriter, r *http.Request) {
	var cfg ssf.StreamConfig
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cfg); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid stream configuration"})
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stream != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "a stream already exists for this receiver"})
		return
	}
	cfg.StreamID = "stream-" + randHex(4)
	cfg.Issuer = t.Issuer
	if len(cfg.Audience) == 0 {
		cfg.Audience = ssf.Audience{t.opts.Audience}
	}
	cfg.EventsSupported = []string{ssf.CAEPSessionRevoked, ssf.CAEPCredentialChange, ssf.CAEPRiskLevelChange, ssf.RISCCredentialCompromise, ssf.RISCAccountDisabled}
	for _, e := range cfg.EventsRequested {
		for _, s := range cfg.EventsSupported {
			if e == s {
				cfg.EventsDelivered = append(cfg.EventsDelivered, e)
			}
		}
	}
	if cfg.Delivery == nil {
		cfg.Delivery = &ssf.StreamDelivery{Method: ssf.DeliveryPoll}
	}
	if cfg.Delivery.Method == ssf.DeliveryPoll {
		cfg.Delivery.EndpointURL = t.PollURL()
	}
	t.stream = &cfg
	t.status = "enabled"
	out := cfg
	if out.Delivery != nil {
		d := *out.Delivery
		d.AuthorizationHeader = "" // never echoed back
		out.Delivery = &d
	}
	writeJSON(w, http.StatusCreated, out)
}

func (t *Transmitter) streamFor(w http.ResponseWriter, r *http.Request) (ssf.StreamConfig, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stream == nil || r.URL.Query().Get("stream_id") != t.stream.StreamID {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "stream not found"})
		return ssf.StreamConfig{}, false
	}
	return *t.stream, true
}

func (t *Transmitter) readStream(w http.ResponseWriter, r *http.Request) {
	cfg, ok := t.streamFor(w, r)
	if !ok {
		return
	}
	if cfg.Delivery != nil {
		d := *cfg.Delivery
		d.AuthorizationHeader = ""
		cfg.Delivery = &d
	}
	writeJSON(w, http.StatusOK, cfg)
}

func (t *Transmitter) readStatus(w http.ResponseWriter, r *http.Request) {
	cfg, ok := t.streamFor(w, r)
	if !ok {
		return
	}
	t.mu.Lock()
	st := t.status
	t.mu.Unlock()
	writeJSON(w, http.StatusOK, ssf.StreamStatus{StreamID: cfg.StreamID, Status: st})
}

// verify sends a verification event on the stream: pushed to the
// receiver's endpoint for push streams, queued for poll streams.
func (t *Transmitter) verify(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid verification request"})
		return
	}
	t.mu.Lock()
	stream := t.stream
	t.mu.Unlock()
	if stream == nil || req.StreamID != stream.StreamID {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "stream not found"})
		return
	}
	event := map[string]any{}
	if req.State != "" {
		event["state"] = req.State
	}
	claims := t.NewSET(ssf.SSFVerification, event, map[string]any{"format": "opaque", "id": stream.StreamID})
	if len(stream.Audience) > 0 {
		claims["aud"] = []string(stream.Audience)
	}
	tok, err := t.Sign(claims, SignOptions{})
	if err != nil {
		http.Error(w, "signing failed", http.StatusInternalServerError)
		return
	}
	if stream.Delivery != nil && stream.Delivery.Method == ssf.DeliveryPush {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if _, err := t.Push(ctx, nil, stream.Delivery.EndpointURL, tok, stream.Delivery.AuthorizationHeader); err != nil {
			http.Error(w, "pushing the verification event failed", http.StatusBadGateway)
			return
		}
	} else {
		t.Enqueue(claims["jti"].(string), tok)
	}
	w.WriteHeader(http.StatusNoContent)
}

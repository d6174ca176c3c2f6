package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// TeamID is the workspace id of the emulated Slack; users added without a
// TeamID belong to it.
const TeamID = "T0EMULATED"

// BotID is the id of the emulated app's bot, the author of every message
// the server records.
const BotID = "B0EMULATED"

// AppID is the id of the emulated Slack app, as interaction payloads name
// it.
const AppID = "A0EMULATED"

// maxBody bounds the request bodies the server reads, as Slack does.
const maxBody = 1 << 20

// responseURLUses is how many times Slack accepts a response_url.
const responseURLUses = 5

// User is a member of the emulated workspace.
type User struct {
	// ID is the Slack user id ("U0ALICE"). Required.
	ID string
	// TeamID is the user's workspace; empty means TeamID.
	TeamID string
	// Name is the user's handle.
	Name string
	// RealName is the user's full name.
	RealName string
	// Email is the profile's e-mail address; empty means the user has
	// none visible (a bot, or an app without the users:read.email scope).
	Email string
	// Deleted marks a deactivated account.
	Deleted bool
	// IsBot marks a bot user.
	IsBot bool
	// IsRestricted marks a guest (multi-channel guest).
	IsRestricted bool
	// IsStranger marks a user of another workspace met through a shared
	// channel.
	IsStranger bool
}

// Message is a message the server holds, as last posted or updated.
type Message struct {
	// Channel and TS identify the message, as Slack does.
	Channel string
	TS      string
	// ThreadTS is the parent's ts for a reply in a thread.
	ThreadTS string
	// Text is the fallback text.
	Text string
	// Blocks is the message's Block Kit JSON array, as sent.
	Blocks json.RawMessage
	// Edits counts the chat.update calls applied to the message.
	Edits int
}

// Response is a message sent to an interaction's response_url.
type Response struct {
	// URL is the response_url used.
	URL string
	// Channel and MessageTS identify the message whose button was pressed.
	Channel   string
	MessageTS string
	// ResponseType is "ephemeral" (only the clicker sees it) or
	// "in_channel".
	ResponseType string `json:"response_type"`
	// Text is the response's text.
	Text string `json:"text"`
	// ReplaceOriginal says the response replaces the clicked message.
	ReplaceOriginal bool `json:"replace_original"`
	// Blocks is the response's Block Kit JSON, if any.
	Blocks json.RawMessage `json:"blocks,omitempty"`
}

type responseTarget struct {
	channel, ts string
	uses        int
}

type fault struct {
	retryAfter time.Duration // > 0: answer 429
	slackError string        // else: answer ok:false with this error
}

// Server is an emulated Slack Web API. It is safe for concurrent use. The
// zero value is not usable; call NewServer.
type Server struct {
	srv   *httptest.Server
	token string

	mu        sync.Mutex
	users     map[string]User
	channels  map[string]bool
	dms       map[string]string // user id → DM channel id
	messages  []*Message
	responses []Response
	targets   map[string]*responseTarget
	faults    map[string][]fault
	calls     map[string]int
	seq       int
}

// NewServer starts an emulated Slack that accepts token as the bot token.
// Close it when done.
func NewServer(token string) *Server {
	s := &Server{
		token:    token,
		users:    make(map[string]User),
		channels: make(map[string]bool),
		dms:      make(map[string]string),
		targets:  make(map[string]*responseTarget),
		faults:   make(map[string][]fault),
		calls:    make(map[string]int),
	}
	s.srv = httptest.NewServer(s)
	return s
}

// Close shuts the listener down. The in-process client keeps working.
func (s *Server) Close() { s.srv.Close() }

// URL returns the server's base URL, with a trailing slash.
func (s *Server) URL() string { return s.srv.URL + "/" }

// APIURL returns the Web API base URL ("<URL>api/"), the value for
// slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.URL() + "api/" }

// HTTPClient returns a client that serves requests for the server's URL
// in-process, without sockets, and refuses requests for any other host.
// Use it inside testing/synctest bubbles, where a goroutine waiting on a
// socket would keep the fake clock from advancing.
func (s *Server) HTTPClient() *http.Client {
	u, _ := url.Parse(s.srv.URL)
	return &http.Client{Transport: inProcess{h: s, host: u.Host}}
}

// Client returns a Slack client for the emulator, with the server's token,
// going through HTTPClient. More options may be added (they apply after
// the emulator's).
func (s *Server) Client(opts ...slack.Option) *slack.Client {
	all := append([]slack.Option{slack.OptionAPIURL(s.APIURL()), slack.OptionHTTPClient(s.HTTPClient())}, opts...)
	return slack.New(s.token, all...)
}

// AddUser adds or replaces a workspace member.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.TeamID == "" {
		u.TeamID = TeamID
	}
	s.users[u.ID] = u
}

// AddChannel makes a channel id known; posting elsewhere fails with
// "channel_not_found".
func (s *Server) AddChannel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[id] = true
}

// Throttle makes the next n calls to method ("chat.postMessage") fail with
// HTTP 429 and Retry-After set to retryAfter, rounded up to whole seconds.
func (s *Server) Throttle(method string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	retryAfter = max(retryAfter, time.Second)
	for range n {
		s.faults[method] = append(s.faults[method], fault{retryAfter: retryAfter})
	}
}

// Fail makes the next call to method answer {"ok":false,"error":slackError}.
func (s *Server) Fail(method, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], fault{slackError: slackError})
}

// Calls returns how many requests reached method, including refused ones.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Messages returns copies of the messages held, in posting order, replies
// in threads included.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = *m
		out[i].Blocks = slices.Clone(m.Blocks)
	}
	return out
}

// Responses returns the messages sent to response URLs, oldest first.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.responses)
}

// ServeHTTP answers Web API calls under /api/ and response URLs under
// /actions/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/"):
		s.serveAPI(w, r, strings.TrimPrefix(r.URL.Path, "/api/"))
	case strings.HasPrefix(r.URL.Path, "/actions/"):
		s.serveResponseURL(w, r)
	default:
		http.NotFound(w, r)
	}
}

// params reads a call's parameters from the query and a form or JSON body.
func params(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, err
	}
	v := r.URL.Query()
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		for k, x := range m {
			switch x := x.(type) {
			case string:
				v.Set(k, x)
			default:
				b, _ := json.Marshal(x)
				v.Set(k, string(b))
			}
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, xs := range form {
			v[k] = append(v[k], xs...)
		}
	}
	return v, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func slackError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, method string) {
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		slackError(w, "method_not_supported_for_channel_type")
		return
	}
	v, err := params(r)
	if err != nil {
		slackError(w, "invalid_form_data")
		return
	}
	token := v.Get("token")
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = auth
	}
	switch {
	case token == "":
		slackError(w, "not_authed")
		return
	case token != s.token:
		slackError(w, "invalid_auth")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if fs := s.faults[method]; len(fs) > 0 {
		f := fs[0]
		s.faults[method] = fs[1:]
		if f.retryAfter > 0 {
			secs := int((f.retryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
			return
		}
		slackError(w, f.slackError)
		return
	}
	switch method {
	case "chat.postMessage":
		s.postMessage(w, v)
	case "chat.update":
		s.update(w, v)
	case "users.info":
		u, ok := s.users[v.Get("user")]
		if !ok {
			slackError(w, "user_not_found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": userJSON(u)})
	case "users.lookupByEmail":
		email := strings.TrimSpace(v.Get("email"))
		for _, u := range s.users {
			if email != "" && strings.EqualFold(u.Email, email) && !u.Deleted {
				writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": userJSON(u)})
				return
			}
		}
		slackError(w, "users_not_found")
	case "conversations.open":
		s.openConversation(w, v)
	default:
		slackError(w, "unknown_method")
	}
}

// nextTS returns a message timestamp, unique within the server.
func (s *Server) nextTS() string {
	s.seq++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), s.seq)
}

// blocksParam checks a "blocks" parameter: absent, or a JSON array.
func blocksParam(v url.Values) (json.RawMessage, bool) {
	b := v.Get("blocks")
	if b == "" {
		return nil, true
	}
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(b), &arr); err != nil || len(arr) > 50 {
		return nil, false
	}
	return json.RawMessage(b), true
}

func (s *Server) postMessage(w http.ResponseWriter, v url.Values) {
	ch := v.Get("channel")
	switch {
	case ch == "":
		slackError(w, "channel_not_found")
		return
	case !s.channels[ch]:
		slackError(w, "channel_not_found")
		return
	}
	blocks, ok := blocksParam(v)
	if !ok {
		slackError(w, "invalid_blocks")
		return
	}
	text := v.Get("text")
	if text == "" && blocks == nil {
		slackError(w, "no_text")
		return
	}
	if len(text) > 40000 {
		slackError(w, "msg_too_long")
		return
	}
	m := &Message{Channel: ch, TS: s.nextTS(), ThreadTS: v.Get("thread_ts"), Text: text, Blocks: blocks}
	s.messages = append(s.messages, m)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": ch, "ts": m.TS, "message": messageJSON(m)})
}

func (s *Server) update(w http.ResponseWriter, v url.Values) {
	ch, ts := v.Get("channel"), v.Get("ts")
	if !s.channels[ch] {
		slackError(w, "channel_not_found")
		return
	}
	i := slices.IndexFunc(s.messages, func(m *Message) bool { return m.Channel == ch && m.TS == ts })
	if i < 0 {
		slackError(w, "message_not_found")
		return
	}
	blocks, ok := blocksParam(v)
	if !ok {
		slackError(w, "invalid_blocks")
		return
	}
	text := v.Get("text")
	if text == "" && blocks == nil {
		slackError(w, "no_text")
		return
	}
	m := s.messages[i]
	m.Text, m.Blocks = text, blocks
	m.Edits++
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": ch, "ts": ts, "text": text, "message": messageJSON(m)})
}

func (s *Server) openConversation(w http.ResponseWriter, v url.Values) {
	ids := strings.Split(v.Get("users"), ",")
	if v.Get("users") == "" {
		slackError(w, "users_list_not_supplied")
		return
	}
	if len(ids) != 1 {
		// Multi-person DMs are not emulated.
		slackError(w, "not_enough_users")
		return
	}
	u, ok := s.users[ids[0]]
	if !ok {
		slackError(w, "user_not_found")
		return
	}
	if u.Deleted {
		slackError(w, "user_disabled")
		return
	}
	ch, already := s.dms[u.ID]
	if !already {
		ch = "D" + strings.TrimPrefix(u.ID, "U")
		s.dms[u.ID] = ch
		s.channels[ch] = true
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "already_open": already, "no_op": already,
		"channel": map[string]any{"id": ch}})
}

func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method_not_allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.targets[r.URL.Path]
	if !ok || t.uses >= responseURLUses {
		http.Error(w, "expired_url", http.StatusNotFound)
		return
	}
	t.uses++
	if resp.Text == "" && resp.Blocks == nil {
		http.Error(w, "no_text", http.StatusBadRequest)
		return
	}
	resp.URL = s.srv.URL + r.URL.Path
	resp.Channel, resp.MessageTS = t.channel, t.ts
	if resp.ResponseType == "" {
		resp.ResponseType = "ephemeral"
	}
	s.responses = append(s.responses, resp)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func userJSON(u User) map[string]any {
	profile := map[string]any{"real_name": u.RealName, "display_name": u.Name}
	if u.Email != "" {
		profile["email"] = u.Email
	}
	return map[string]any{
		"id": u.ID, "team_id": u.TeamID, "name": u.Name, "real_name": u.RealName,
		"deleted": u.Deleted, "is_bot": u.IsBot, "is_restricted": u.IsRestricted,
		"is_ultra_restricted": false, "is_stranger": u.IsStranger, "is_app_user": false,
		"is_email_confirmed": u.Email != "", "profile": profile,
	}
}

func messageJSON(m *Message) map[string]any {
	out := map[string]any{"type": "message", "subtype": "bot_message", "bot_id": BotID, "text": m.Text, "ts": m.TS}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	return out
}

// inProcess serves requests for one host with a handler, in the calling
// goroutine.
type inProcess struct {
	h    http.Handler
	host string
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if req.URL.Host != t.host {
		return nil, fmt.Errorf("slacktest: refusing a request for %q, which is not the emulator", req.URL.Host)
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "192.0.2.1:40000"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

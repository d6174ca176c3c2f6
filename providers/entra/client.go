package entra

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/internal/keylock"
)

// ProviderName is the name the client gives its subjects
// (playbook.Subject.Provider) and its errors (playbook.ProviderError.Provider).
const ProviderName = "entra"

// Default endpoints of the global Azure cloud. National clouds and tests set
// Config.GraphURL and Config.TokenURL.
const (
	DefaultGraphURL = "https://graph.microsoft.com/v1.0"
	// DefaultAuthorityURL is the Microsoft identity platform's host; the
	// token URL is DefaultAuthorityURL + "/{tenant}/oauth2/v2.0/token".
	DefaultAuthorityURL = "https://login.microsoftonline.com"
)

// GlobalAdministratorTemplateID is the role template id of Global
// Administrator, the same in every tenant.
const GlobalAdministratorTemplateID = decide.EntraGlobalAdministrator

// MaxRiskDetectionPage is the largest $top Graph accepts on
// /identityProtection/riskDetections; larger values are refused with 400.
const MaxRiskDetectionPage = 500

// Config configures a Client. TenantID, ClientID and one credential
// (ClientSecret, or Certificate with PrivateKey) are required; every other
// zero field takes its default.
type Config struct {
	// TenantID is the directory (tenant) id or a verified domain name.
	TenantID string
	// ClientID is the application (client) id of the app registration.
	ClientID string
	// ClientSecret is the app's client secret. It is sent only to the
	// token endpoint and never appears in errors or logs.
	ClientSecret string
	// Certificate and PrivateKey authenticate with a signed client
	// assertion instead of a secret. PrivateKey must be an *rsa.PrivateKey
	// (Microsoft accepts RS256 and PS256 assertions); the certificate is
	// the one uploaded to the app registration.
	Certificate *x509.Certificate
	PrivateKey  crypto.Signer

	// GraphURL is the Graph base URL with its version. Default
	// DefaultGraphURL.
	GraphURL string
	// TokenURL is the token endpoint. Default
	// DefaultAuthorityURL/{TenantID}/oauth2/v2.0/token.
	TokenURL string
	// Scope is the token scope. Default the Graph host's "/.default"
	// (https://graph.microsoft.com/.default for the default GraphURL).
	Scope string

	// HTTPClient makes the requests (Graph and token). Default a client
	// with a 30-second timeout. Its Transport is used as is.
	HTTPClient *http.Client
	// IdentityProtectionLimiter paces requests to Identity Protection
	// endpoints, which Graph limits to 1 request per second per tenant
	// for all apps together and throttles without Retry-After. Default a
	// limiter of its own at 1 request per second. Clients of the same
	// tenant in one process should share one (NewLimiter).
	IdentityProtectionLimiter *Limiter

	// PrivilegedRoleTemplates lists the role template ids (or role
	// definition ids or display names) that make their holder
	// privileged. Default decide.DefaultPrivilegedRoles(), which starts
	// with GlobalAdministratorTemplateID.
	PrivilegedRoleTemplates []string
	// PrivilegedGroups lists group ids whose members are privileged and
	// whose membership changes the directory-audit trigger reports.
	PrivilegedGroups []string

	// Ledger remembers the results of applied idempotency keys, so that a
	// key is never applied twice. Default contain.NewMemoryLedger(); hosts
	// that must survive restarts pass a durable one.
	Ledger contain.Ledger
	// Logger receives diagnostics (never secrets). Default slog.Default().
	Logger *slog.Logger
}

// Client talks to one tenant through Microsoft Graph with app-only
// credentials. It provides the provider's actions, enrichers and triggers.
// It is safe for concurrent use; create one per tenant and reuse it.
type Client struct {
	tenant     string
	graph      *url.URL
	graphURL   string
	http       *http.Client
	tokens     *tokenCache
	limiter    *Limiter
	privileged map[string]bool
	privGroups map[string]bool
	ledger     contain.Ledger
	log        *slog.Logger
	keys       keylock.Map
	actions    map[string]*action
}

// New validates cfg and returns a Client. The error names the field at
// fault. New makes no request: credentials are first checked by the first
// call that needs a token.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.TenantID) == "" {
		return nil, errors.New("entra: Config.TenantID is required")
	}
	if strings.ContainsAny(cfg.TenantID, "/?#% ") {
		return nil, fmt.Errorf("entra: Config.TenantID %q is not a tenant id or domain name", cfg.TenantID)
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("entra: Config.ClientID is required")
	}
	hasCert := cfg.Certificate != nil || cfg.PrivateKey != nil
	switch {
	case cfg.ClientSecret != "" && hasCert:
		return nil, errors.New("entra: set Config.ClientSecret or Config.Certificate with PrivateKey, not both")
	case cfg.ClientSecret == "" && !hasCert:
		return nil, errors.New("entra: a credential is required: Config.ClientSecret, or Config.Certificate with Config.PrivateKey")
	case hasCert && (cfg.Certificate == nil || cfg.PrivateKey == nil):
		return nil, errors.New("entra: Config.Certificate and Config.PrivateKey must be set together")
	}
	c := &Client{tenant: cfg.TenantID, ledger: cfg.Ledger, log: cfg.Logger, limiter: cfg.IdentityProtectionLimiter}
	if c.ledger == nil {
		c.ledger = contain.NewMemoryLedger()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.limiter == nil {
		c.limiter = NewLimiter(time.Second)
	}
	graph := strings.TrimRight(cmpOr(cfg.GraphURL, DefaultGraphURL), "/")
	u, err := url.Parse(graph)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("entra: Config.GraphURL %q is not an absolute http(s) URL", cfg.GraphURL)
	}
	c.graph, c.graphURL = u, graph
	tokenURL := cmpOr(cfg.TokenURL, DefaultAuthorityURL+"/"+url.PathEscape(cfg.TenantID)+"/oauth2/v2.0/token")
	if t, err := url.Parse(tokenURL); err != nil || (t.Scheme != "https" && t.Scheme != "http") || t.Host == "" {
		return nil, fmt.Errorf("entra: Config.TokenURL %q is not an absolute http(s) URL", cfg.TokenURL)
	}
	scope := cmpOr(cfg.Scope, u.Scheme+"://"+u.Host+"/.default")
	c.http = cfg.HTTPClient
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	src, err := newTokenSource(cfg, tokenURL, scope)
	if err != nil {
		return nil, err
	}
	c.tokens = &tokenCache{fetch: src, http: c.http}
	roles := cfg.PrivilegedRoleTemplates
	if len(roles) == 0 {
		roles = decide.DefaultPrivilegedRoles()
	}
	c.privileged = make(map[string]bool, len(roles))
	for i, r := range roles {
		if strings.TrimSpace(r) == "" {
			return nil, fmt.Errorf("entra: Config.PrivilegedRoleTemplates[%d] is empty", i)
		}
		c.privileged[strings.ToLower(strings.TrimSpace(r))] = true
	}
	c.privGroups = make(map[string]bool, len(cfg.PrivilegedGroups))
	for i, g := range cfg.PrivilegedGroups {
		if strings.TrimSpace(g) == "" {
			return nil, fmt.Errorf("entra: Config.PrivilegedGroups[%d] is empty", i)
		}
		c.privGroups[strings.ToLower(strings.TrimSpace(g))] = true
	}
	c.actions = c.newActions()
	return c, nil
}

// TenantID returns the tenant the client acts on.
func (c *Client) TenantID() string { return c.tenant }

func cmpOr(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// isPrivilegedRole reports whether any of the names identifies a privileged
// role.
func (c *Client) isPrivilegedRole(names ...string) bool {
	for _, n := range names {
		if n != "" && c.privileged[strings.ToLower(n)] {
			return true
		}
	}
	return false
}

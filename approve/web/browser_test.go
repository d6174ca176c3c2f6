package web_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// chromium returns the path of a Chromium (or Chrome) binary. Without one
// the test is skipped, unless IAMPLAYBOOK_REQUIRE_CHROMIUM is set (CI sets
// it), where a missing browser must fail rather than pass unseen.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no chromium binary on PATH: install the Debian package chromium to run the browser tests"
	if os.Getenv("IAMPLAYBOOK_REQUIRE_CHROMIUM") != "" {
		t.Fatal(msg + " (IAMPLAYBOOK_REQUIRE_CHROMIUM is set)")
	}
	t.Skip(msg)
	return ""
}

// browser starts a fresh headless Chromium for the test and returns a
// context to drive it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first call starts the browser and must carry no timeout.
	require.NoError(t, chromedp.Do(bctx), "starting chromium")
	// A bound for a browser that hangs; the test asserts no timing.
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// text returns the text of the first element matching the CSS selector.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "reading %s", sel)
	return s
}

// TestBrowserApproves drives a real headless Chromium through the whole
// journey: open the link, read the case, type a reason, click Approve, see
// the confirmation; then the same link, an expired one and a forged one are
// refused.
func TestBrowserApproves(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	e := newEnv(t, "")
	link := e.mail.link(t, "secops-lead@example.com")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS("button.approve")),
	))
	assert.Equal(t, "Ana Souza (ana@example.com)", text(t, ctx, "#subject"))
	assert.Equal(t, "impossibleTravel", text(t, ctx, "#signal"))
	assert.Equal(t, "Global Administrator <b>signed in</b> from an unfamiliar country", text(t, ctx, "#reason-text"), "shown as text, not markup")
	lang, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang"))
	require.NoError(t, err)
	assert.Equal(t, "en", lang.Value)
	// The inline style is allowed by its CSP hash: the button is styled,
	// so the policy and the page agree.
	color, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("button.approve")).backgroundColor`))
	require.NoError(t, err)
	assert.Equal(t, "rgb(27, 94, 32)", color)
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#reason").labels[0].textContent`))
	require.NoError(t, err)
	assert.Contains(t, label, "Reason", "the reason field has a label")
	e.h.RequireWaiting(e.runID)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#reason"), "called Ana; she is not travelling"),
		chromedp.Click(chromedp.CSS("button.approve")),
		chromedp.WaitVisible(chromedp.CSS("p.done")),
	))
	assert.Equal(t, "Your approval was recorded", text(t, ctx, "h1"))
	e.h.Settle()
	e.h.RequireOutcome(e.runID, playbook.OutcomeContained)
	v := e.h.Run(e.runID).Approval.Verdicts
	require.Len(t, v, 1)
	assert.Equal(t, "secops-lead@example.com", v[0].Approver)
	assert.Equal(t, "called Ana; she is not travelling", v[0].Reason)
	assert.Equal(t, "web", v[0].Channel)
	assert.Equal(t, 1, e.contained())

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS("p.problem")),
	))
	assert.Equal(t, "This approval link was already used", text(t, ctx, "h1"), "a second use is refused")

	expired, err := e.handler.Link(playbook.ApprovalID(e.runID), "secops-lead@example.com", time.Now().Add(-time.Minute))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(expired),
		chromedp.WaitVisible(chromedp.CSS("p.problem")),
	))
	assert.Equal(t, "This approval link has expired", text(t, ctx, "h1"))
	problem := text(t, ctx, "p.problem")
	assert.True(t, strings.HasPrefix(problem, "The approval link has expired"), problem)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(tamper(t, link, "u", "mallory@example.com")),
		chromedp.WaitVisible(chromedp.CSS("p.problem")),
	))
	assert.Contains(t, text(t, ctx, "p.problem"), "signature is not valid")
	assert.Equal(t, 1, e.contained(), "nothing else ran")
}

// TestBrowserDenies clicks Deny: the run escalates and nothing is
// contained.
func TestBrowserDenies(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	e := newEnv(t, "")
	link := e.mail.link(t, "secops-lead@example.com")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS("button.deny")),
		chromedp.SendKeys(chromedp.CSS("#reason"), "travel confirmed by HR"),
		chromedp.Click(chromedp.CSS("button.deny")),
		chromedp.WaitVisible(chromedp.CSS("p.done")),
	))
	assert.Equal(t, "Your denial was recorded", text(t, ctx, "h1"))
	e.h.Settle()
	e.h.RequireOutcome(e.runID, playbook.OutcomeEscalated)
	assert.Zero(t, e.contained())
}

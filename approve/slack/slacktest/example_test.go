package slacktest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/iamplaybook/iamplaybook/approve/slack/slacktest"
)

// A Slack client aimed at the emulator posts messages the test can read
// back, and meets Slack's errors and rate limits.
func ExampleServer() {
	srv := slacktest.NewServer("xoxb-example")
	defer srv.Close()
	srv.AddChannel("C0SECOPS")
	api := srv.Client()
	ctx := context.Background()

	_, _, err := api.PostMessageContext(ctx, "C0SECOPS", slack.MsgOptionText("hello", false))
	fmt.Println("posted:", err == nil, len(srv.Messages()))

	_, _, err = api.PostMessageContext(ctx, "C0NOWHERE", slack.MsgOptionText("hello", false))
	fmt.Println("unknown channel:", err)

	srv.Throttle("chat.postMessage", 1, 30*time.Second)
	_, _, err = api.PostMessageContext(ctx, "C0SECOPS", slack.MsgOptionText("again", false))
	var rl *slack.RateLimitedError
	fmt.Println("throttled:", errors.As(err, &rl), rl.RetryAfter)
	// Output:
	// posted: true 1
	// unknown channel: channel_not_found
	// throttled: true 30s
}

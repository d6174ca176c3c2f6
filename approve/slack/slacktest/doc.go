// Package slacktest emulates the part of the Slack Web API that the Slack
// approval channel uses, for tests and local demonstrations.
//
// A [Server] answers chat.postMessage, chat.update, users.info,
// users.lookupByEmail and conversations.open the way Slack does: every
// answer is HTTP 200 with a JSON body whose "ok" field says whether the call
// worked and whose "error" field names the failure ("channel_not_found",
// "invalid_auth", ...), except rate limiting, which is HTTP 429 with a
// Retry-After header in seconds. Calls must carry the bot token, as a
// bearer Authorization header or a "token" form field. The server records
// every message posted or updated and every response sent to an
// interaction's response_url, so that tests can assert on what people saw.
//
// [Server.Click] builds the block_actions payload Slack sends when a person
// presses a button of a recorded message, and [SignRequest] signs it with
// the app's signing secret (the v0 scheme), so that an interactivity
// handler can be tested with requests that only the secret's holder could
// have made.
//
// The server listens on a loopback address ([Server.URL]); for tests in a
// testing/synctest bubble, [Server.HTTPClient] serves the same handler
// in-process, without sockets, so that the bubble's fake clock can advance
// while a client waits out a Retry-After.
//
//	srv := slacktest.NewServer("xoxb-test")
//	defer srv.Close()
//	srv.AddChannel("C0SECOPS")
//	api := srv.Client() // a *slack.Client aimed at the emulator
package slacktest

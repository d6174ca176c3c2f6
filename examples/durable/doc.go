// Command durable shows a run that waits for an approval across a restart
// of its host, with the embedded runner on the SQLite store.
//
// Each start runs the runner on the database file with the quickstart's
// privileged scenario: a high-risk sign-in of Gus, a Global Administrator,
// which the risk × privilege matrix sends for approval. The program hands
// the event in, lets the runner settle, reports what became of the run,
// and stops, as a host does on a deploy.
//
//	# 1. The run starts and waits for a verdict; the program stops.
//	go run ./examples/durable start -db /tmp/durable.db -audit /tmp/durable.jsonl
//
//	# 2. Meanwhile, an operator looks at the waiting approval and approves
//	#    it with the operator tool; no runner is running.
//	go run ./cmd/iamplaybook --db /tmp/durable.db approvals list
//	go run ./cmd/iamplaybook --db /tmp/durable.db approve RUN_ID \
//	    --by secops-lead@contoso.example --reason "Gus confirmed Lagos was not him"
//
//	# 3. The next start picks the verdict up from the store's inbox and
//	#    contains Gus. The event, delivered again, is a duplicate of the
//	#    first start's run, not a second run.
//	go run ./examples/durable start -db /tmp/durable.db -audit /tmp/durable.jsonl
//
//	# The trail of both starts is one hash chain.
//	go run ./cmd/iamplaybook audit verify /tmp/durable.jsonl
//	go run ./cmd/iamplaybook --db /tmp/durable.db runs show RUN_ID --audit /tmp/durable.jsonl
//
// A start before anyone answered finds the run still waiting; a start
// after the approval's deadline (four hours) escalates it instead.
//
// The identity provider is the in-memory fake, seeded again at each start:
// it stands in for a real directory, whose state would survive the
// restart as the store's does. Exit status 0 means the run is waiting or
// contained; 1 means something else happened.
package main

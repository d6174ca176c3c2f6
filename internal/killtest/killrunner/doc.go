// Command killrunner is the runner process of the kill test (see package
// killtest): it runs the killtest playbook on a SQLite store, feeding it
// every event of a JSON Lines file at each start (the store's
// de-duplication turns re-fed events into duplicates), with containment
// actions calling the provider at -provider and the hash-chained audit
// trail at -audit.
//
// Events are handed in newest first (the file's last line first), so that
// a restarted runner works on fresh events at once and meets the
// duplicates of earlier starts' events after them.
//
// It prints "ready" on stdout once the runner has resumed the store's
// unfinished runs, and "fed N" once it has handed in every event of the
// file. It runs until killed or interrupted; with -until-done it exits 0
// as soon as every event of the file has a run that finished or waits for
// a verdict, printing "done N waiting M" (and exits 1 if the runs settle
// otherwise).
//
// A trail whose last line a kill cut short is repaired when it is opened
// (audit.JSONLOptions.RepairTornTail: the cut line is saved beside it and
// the repair is recorded in the chain); any other damage stops the
// program.
package main

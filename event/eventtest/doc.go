// Package eventtest is the event sink for tests: a Recorder keeps every event
// it is sent, safe for concurrent use, and offers the views tests ask for
// (events of one type, the text of messages and output lines) and a wait for
// an event that has not arrived yet.
//
// It sits in kiln's proof layer beside the conformance suites: only tests
// import it, in this module or in a builder or provisioner written outside it.
package eventtest

// Package sandboxtest has in-memory fakes of the services sandbox consumes, so the state
// machine (and the CRI layer above it) is tested without root, kernel or network. Each
// fake records what is alive, so a test can assert that a failure left nothing behind, and
// can be told to fail at a named step.
package sandboxtest

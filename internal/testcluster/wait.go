package testcluster

import (
	"testing"
	"time"
)

// How long tests wait for things that take time. Generous: CI machines are
// busy, and a test that waits on a condition returns as soon as it holds.
const (
	// LeaderTimeout bounds waiting for a leader that takes writes.
	LeaderTimeout = 30 * time.Second
	// ConditionTimeout bounds Eventually.
	ConditionTimeout = 20 * time.Second
	// StopTimeout bounds waiting for a signalled process to exit.
	StopTimeout = 30 * time.Second
	// StartTimeout bounds waiting for a started node to take writes
	// (a restart replays its log first).
	StartTimeout = 60 * time.Second
	// PollInterval is how often a condition is checked again.
	PollInterval = 20 * time.Millisecond
)

// Eventually waits until cond returns nil, checking every PollInterval for
// up to ConditionTimeout, and fails the test with what and cond's last
// error if it never does. Call it from the test's goroutine.
func Eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	EventuallyWithin(t, ConditionTimeout, what, cond)
}

// EventuallyWithin is Eventually with its own timeout.
func EventuallyWithin(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("%s: not within %v: %v", what, timeout, err)
	}
}

// Poll waits until cond returns nil, for up to timeout, and returns cond's
// last error if it never does. It never touches a testing.T, so goroutines
// may call it and report through a channel.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(PollInterval)
	}
}

package testcluster

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"
)

// How long tests wait for things that take time: every timeout of the
// package, and of the tests that use it, is named here. Generous: CI
// machines are busy, and a test that waits on a condition returns as soon
// as it holds.
const (
	// LeaderTimeout bounds waiting for a leader that takes writes.
	LeaderTimeout = 30 * time.Second
	// ConditionTimeout bounds waiting for a condition (Eventually).
	ConditionTimeout = 20 * time.Second
	// StopTimeout bounds waiting for a signalled process to exit.
	StopTimeout = 30 * time.Second
	// StartTimeout bounds waiting for a started node to take writes
	// (a restart replays its log first).
	StartTimeout = 60 * time.Second
	// PollInterval is how often a condition is checked again.
	PollInterval = 20 * time.Millisecond

	// DialTimeout bounds connecting to a node on loopback.
	DialTimeout = 2 * time.Second
	// RequestTimeout bounds one request of a test's go-redis client.
	RequestTimeout = 15 * time.Second
	// ToolTimeout bounds one run of a command-line tool (redis-cli).
	ToolTimeout = 60 * time.Second
	// ProbeTimeout bounds one round of a helper's check (a role, a probe
	// write); the round is retried until its own timeout.
	ProbeTimeout = 2 * time.Second

	// ClockSlack covers the millisecond resolution of the clocks and
	// deadlines statehouse keeps when a test compares them with its own
	// clock (the nodes run on the test's machine: one clock).
	ClockSlack = 5 * time.Millisecond
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
// last error if it never does, or at once an error cond wrapped with Stop.
// It never touches a testing.T, so goroutines may call it and report
// through a channel.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var s stopError
		if errors.As(err, &s) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(PollInterval)
	}
}

// Stop marks an error of a condition as final: Poll, Eventually and
// EventuallyWithin return or fail with it at once instead of checking again.
func Stop(err error) error { return stopError{err} }

type stopError struct{ err error }

func (s stopError) Error() string { return s.err.Error() }
func (s stopError) Unwrap() error { return s.err }

// SleepPast sleeps until t has certainly passed for every node on this
// machine (t plus ClockSlack). It is for the passage of time a test is
// about, such as a TTL running out, computed from a time the test
// observed; to wait for a state, use Eventually.
func SleepPast(t time.Time) {
	time.Sleep(time.Until(t.Add(ClockSlack)))
}

// SeedEnv names the environment variable that replays a random test.
const SeedEnv = "STATEHOUSE_SEED"

// Seed returns the seed of a random test: STATEHOUSE_SEED if set, else the
// clock. It logs the seed and how to replay it, so a failure can be run
// again exactly.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", SeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with %s=%d go test -run '^%s$')", seed, SeedEnv, seed, t.Name())
	return seed
}

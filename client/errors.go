package client

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Outcome is what an error from statehouse says about the command that
// got it: whether it may have been applied, and whether sending it again
// is safe. Classify gives it; it is the one place that reads statehouse's
// error replies.
type Outcome int

const (
	// OK: the command ran (its reply may be redis.Nil).
	OK Outcome = iota
	// Retry: the command certainly did not apply and the cluster was
	// between states (no leader, a leader change, a node starting, a
	// node that was not there): send it again, to the leader as it is
	// now. -CLUSTERDOWN, -TRYAGAIN, -LOADING, -MOVED, -ASK, -READONLY,
	// -MASTERDOWN, and a connection that was never made.
	Retry
	// NotApplied: the command certainly did not apply, and sending it
	// again at once would meet the same answer: -MISCONF (the leader's
	// disk is short of space), -OOM (over maxmemory with noeviction, or
	// ahead of eviction: wait, or delete), or a WATCHed key that changed
	// (redis.TxFailedErr: run the transaction again from its reads).
	NotApplied
	// Rejected: the server refused the command itself (-ERR,
	// -WRONGTYPE, -NOAUTH...), or the error is not statehouse's (the
	// caller's own). That command did not run, but in a pipeline or a
	// MULTI/EXEC the others may have.
	Rejected
	// Uncertain: the command may or may not have been applied:
	// -UNCERTAIN (leadership was lost while it was being committed), or
	// the connection broke or timed out after it was sent. Never send a
	// write again blindly: read what is there, or tell the user.
	Uncertain
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Retry:
		return "retry"
	case NotApplied:
		return "not-applied"
	case Rejected:
		return "rejected"
	case Uncertain:
		return "uncertain"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Classify says what err, returned by a go-redis command sent to a
// statehouse node (or by Client, which wraps it), means for that
// command. nil and redis.Nil are OK.
func Classify(err error) Outcome {
	if err == nil || errors.Is(err, redis.Nil) {
		return OK
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Outcome
	}
	if errors.Is(err, redis.TxFailedErr) {
		return NotApplied
	}
	var re redis.Error
	if errors.As(err, &re) {
		return classifyReply(re.Error())
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) {
		return Retry // no connection was had: nothing was sent
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return Retry // never connected: the command was never sent
	}
	if errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused") {
		return Retry
	}
	// A timeout, a context ended, a connection reset or closed (EOF):
	// the command may have reached the server.
	return Uncertain
}

// classifyReply classifies an error reply by its first word, as Redis
// clients read them.
func classifyReply(msg string) Outcome {
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "CLUSTERDOWN", "TRYAGAIN", "LOADING", "MOVED", "ASK", "READONLY", "MASTERDOWN":
		return Retry
	case "MISCONF", "OOM":
		return NotApplied
	case "UNCERTAIN":
		return Uncertain
	}
	return Rejected
}

// Retryable reports whether a command that got err may be sent again
// safely at once (after the topology is read again): its Outcome is
// Retry.
func Retryable(err error) bool { return Classify(err) == Retry }

// IsUncertain reports whether the command that got err may or may not
// have been applied; errors.Is(err, ErrUncertain) says the same of
// Client's errors.
func IsUncertain(err error) bool { return Classify(err) == Uncertain }

// Sentinels for errors.Is on the errors Client returns.
var (
	// ErrUncertain: the write may or may not have been applied (Outcome
	// Uncertain). Client never retries it.
	ErrUncertain = errors.New("statehouse: the write may or may not have been applied")
	// ErrNotApplied: the command certainly did not apply (Outcome Retry
	// after the retries ran out, or NotApplied).
	ErrNotApplied = errors.New("statehouse: the command was not applied")
	// ErrNoNode: no node could be reached to send the command to.
	ErrNoNode = errors.New("statehouse: no node reachable")
)

// Error is what Client's Read, Write, Watch and Do return when they fail:
// the last error a node gave, what it means, the node and the number of
// attempts. errors.Is(err, ErrUncertain) and errors.Is(err, ErrNotApplied)
// test its Outcome; errors.Is and errors.As reach the go-redis error too
// (redis.TxFailedErr, redis.Error).
type Error struct {
	Outcome  Outcome
	Addr     string // the node that answered last, "" if none
	Attempts int
	Err      error
}

func (e *Error) Error() string {
	where := ""
	if e.Addr != "" {
		where = " on " + e.Addr
	}
	tries := ""
	if e.Attempts > 1 {
		tries = fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	return fmt.Sprintf("statehouse (%s%s%s): %v", e.Outcome, where, tries, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Is(target error) bool {
	switch target {
	case ErrUncertain:
		return e.Outcome == Uncertain
	case ErrNotApplied:
		return e.Outcome == Retry || e.Outcome == NotApplied
	}
	return false
}

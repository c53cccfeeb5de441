package server

// The keyspace tests: every keyspace command over a real socket, through
// go-redis v9's typed API: the replies the fsm golden scripts define
// (fsm/testdata), as a client library decodes them, plus what only a live
// node has: real-time expiry, WATCH between connections, SCAN while others
// write, pipelines and databases (keyspace_*_test.go). Then the golden
// scripts replayed over the socket (golden_socket_test.go), and, when
// redis-server 7.0 is installed, differential tests that send the same
// commands to it (a redis-server of their own, on a free port) and to
// statehouse and compare the replies byte for byte (differential_test.go). Random tests log their seed;
// STATEHOUSE_SEED=n replays one.
//
// This file holds what they share: the node, the checker, the error texts.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

var kctx = context.Background()

// ksNode starts a node for keyspace tests and returns a go-redis client
// for it. The log is not fsynced: these tests never restart the node.
// Each test has its own node, so they run in parallel.
func ksNode(t *testing.T) (*testNode, *redis.Client) {
	t.Helper()
	t.Parallel()
	n := startNode(t, withNoSync())
	return n, n.client()
}

// Error texts as Redis words them.
const (
	errWrongType  = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errNotInt     = "ERR value is not an integer or out of range"
	errNotFloat   = "ERR value is not a valid float"
	errSyntax     = "ERR syntax error"
	errOverflow   = "ERR increment or decrement would overflow"
	errNoSuchKey  = "ERR no such key"
	errBadCursor  = "ERR invalid cursor"
	errDBRange    = "ERR DB index is out of range"
	errHashNotInt = "ERR hash value is not an integer"
)

func errArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

func errExpire(name string) string { return "ERR invalid expire time in '" + name + "' command" }

// checker compares go-redis commands with what they should answer. A
// mismatch is reported and the test goes on, so one run shows every
// difference.
type checker struct{ t *testing.T }

// cmdVal is the decoded value of any go-redis command (each has Val).
func cmdVal(cmd redis.Cmder) any {
	m := reflect.ValueOf(cmd).MethodByName("Val")
	if !m.IsValid() {
		panic(fmt.Sprintf("%T has no Val", cmd))
	}
	return m.Call(nil)[0].Interface()
}

// norm lets a test write 3 for int64(3), also inside []any.
func norm(v any) any {
	switch v := v.(type) {
	case int:
		return int64(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = norm(e)
		}
		return out
	}
	return v
}

// eq: the command succeeded with value want.
func (k checker) eq(cmd redis.Cmder, want any) {
	k.t.Helper()
	if err := cmd.Err(); err != nil {
		k.t.Errorf("%q: error %q, want %#v", cmd.Args(), err, want)
		return
	}
	if got := cmdVal(cmd); !reflect.DeepEqual(got, norm(want)) {
		k.t.Errorf("%q = %#v, want %#v", cmd.Args(), got, norm(want))
	}
}

// null: the command answered a null (redis.Nil).
func (k checker) null(cmd redis.Cmder) {
	k.t.Helper()
	if err := cmd.Err(); !errors.Is(err, redis.Nil) {
		k.t.Errorf("%q = %#v, %v; want redis.Nil", cmd.Args(), cmdVal(cmd), err)
	}
}

// err: the command answered an error reply with exactly this text.
func (k checker) err(cmd redis.Cmder, msg string) {
	k.t.Helper()
	err := cmd.Err()
	var re redis.Error
	if err == nil || !errors.As(err, &re) || err.Error() != msg {
		k.t.Errorf("%q: error %v, want %q", cmd.Args(), err, msg)
	}
}

// ok: the command succeeded, whatever its value.
func (k checker) ok(cmd redis.Cmder) {
	k.t.Helper()
	if err := cmd.Err(); err != nil {
		k.t.Errorf("%q: %v", cmd.Args(), err)
	}
}

// ttl checks a TTL or PTTL reply for a key given ttl by a command sent at
// sent (time.Now() taken before sending it). The node stamped that command
// no earlier than sent and read the TTL no later than now, so at most ttl
// is left, and at least ttl less the time since sent, less one unit of the
// reply (1 s for TTL, which rounds; 1 ms for PTTL). The key may be gone
// (-2) only once that much time has passed. No slack is guessed: a slow
// machine widens the window by exactly as much as it was slow.
func (k checker) ttl(cmd redis.Cmder, ttl time.Duration, sent time.Time) {
	k.t.Helper()
	elapsed := time.Since(sent)
	unit := ttlUnit(cmd)
	k.ttlWithin(cmd, ttl-elapsed-unit, ttl, elapsed >= ttl)
}

// ttlUntil checks a TTL or PTTL reply for a key whose deadline is at, read
// by a command sent at sent: what is left lies between at less now and at
// less sent, give or take one unit of the reply.
func (k checker) ttlUntil(cmd redis.Cmder, at, sent time.Time) {
	k.t.Helper()
	now := time.Now()
	unit := ttlUnit(cmd)
	k.ttlWithin(cmd, at.Sub(now)-unit, at.Sub(sent)+unit, !now.Before(at))
}

// ttlUnit is the precision of a TTL reply: whole seconds for TTL,
// milliseconds for PTTL.
func ttlUnit(cmd redis.Cmder) time.Duration {
	if cmd.Name() == "ttl" {
		return time.Second
	}
	return time.Millisecond
}

// ttlWithin: a TTL reply in [lo, hi], never negative, or -2 if the key
// may have expired by now.
func (k checker) ttlWithin(cmd redis.Cmder, lo, hi time.Duration, mayBeGone bool) {
	k.t.Helper()
	if err := cmd.Err(); err != nil {
		k.t.Errorf("%q: %v", cmd.Args(), err)
		return
	}
	got, ok := cmdVal(cmd).(time.Duration)
	if !ok {
		k.t.Errorf("%q: a TTL check on a %T", cmd.Args(), cmdVal(cmd))
		return
	}
	if got == -2 && mayBeGone {
		return
	}
	if got < 0 || got < lo || got > hi {
		k.t.Errorf("%q = %v, want in [%v, %v] (from the time measured around the commands)", cmd.Args(), got, max(lo, 0), hi)
	}
}

// do runs a raw command through go-redis.
func do(c doer, args ...any) *redis.Cmd { return c.Do(kctx, args...) }

// doer is a client, a connection, a pipeline or a transaction.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// noneExist is a condition for testcluster.Eventually: none of keys
// exists on c.
func noneExist(c doer, keys ...string) func() error {
	args := []any{"EXISTS"}
	for _, k := range keys {
		args = append(args, k)
	}
	return func() error {
		n, err := do(c, args...).Int64()
		if err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("EXISTS %q = %d", keys, n)
		}
		return nil
	}
}

// A ttlRound is one try at something that needs a key with a short TTL to
// be still alive: the TTL to give it, and when the round began (before the
// write that gives it). The node stamps a write with its clock when it
// takes it, and reads with its clock too (decision 1): a reply that came
// back less than ttl after start came from a moment when the key still
// lived, however slow the machine.
type ttlRound struct {
	ttl   time.Duration
	start time.Time
}

// inTime reports whether everything so far certainly happened while the
// key lived. Call it after the reply to the last command that needs the
// key alive, and check that command's results only if it says yes.
func (r ttlRound) inTime() bool { return time.Since(r.start) < r.ttl }

// maxRoundTTL bounds the TTLs beforeExpiry tries: a machine that cannot
// answer a few commands within it fails the test.
const maxRoundTTL = 10 * time.Second

// beforeExpiry runs round until one is in time (round returns true), first
// with a TTL of ttl, then with twice the last each time round found the
// machine too slow for it (round returns false after inTime said no, having
// checked nothing that depended on the key being alive). No TTL is
// assumed long enough: a slow machine costs another round, not a failure.
func beforeExpiry(t *testing.T, what string, ttl time.Duration, round func(r ttlRound) bool) {
	t.Helper()
	for {
		if round(ttlRound{ttl: ttl, start: time.Now()}) {
			return
		}
		if 2*ttl > maxRoundTTL {
			t.Fatalf("%s: no round answered within its key's TTL, the last %v", what, ttl)
		}
		t.Logf("%s: answered after the key's %v TTL could have run out; again with %v", what, ttl, 2*ttl)
		ttl *= 2
	}
}

// seededRand returns a random source and logs its seed, so a failure can
// be replayed with STATEHOUSE_SEED.
func seededRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := testcluster.Seed(t)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// The subscribed connection answers as redis-server 7.0 does, byte for
// byte: subscription counts, the commands refused in that state, PING's
// push, RESET leaving it, PUBSUB's introspection and its errors.
func TestPubSubAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	script := [][]string{
		{"UNSUBSCRIBE"}, {"PUNSUBSCRIBE"}, {"SUBSCRIBE", "a", "b"}, {"PSUBSCRIBE", "p*"}, {"GET", "x"}, {"PING"}, {"PING", "hi"},
		{"SSUBSCRIBE", "s1"}, {"PUBSUB", "NUMSUB", "a"}, {"UNSUBSCRIBE", "b", "a"}, {"PUNSUBSCRIBE", "p*", "q*"}, {"SUNSUBSCRIBE"},
		{"SUBSCRIBE", "z"}, {"RESET"}, {"PING"}, {"PUBSUB", "CHANNELS"}, {"PUBSUB", "NUMPAT"}, {"PUBLISH", "a", "m"},
		{"SPUBLISH", "s1", "m"}, {"PUBSUB", "SHARDCHANNELS"}, {"PUBSUB", "SHARDNUMSUB", "s1"}, {"PUBSUB", "FOO"},
		{"SUBSCRIBE"}, {"PUBLISH", "a"}, {"SUBSCRIBE", "c"}, {"QUIT"},
	}
	run := func(addr string) []string {
		rc := dialRaw(t, addr)
		var out []string
		for _, args := range script {
			rc.write(encode(args...))
			if args[0] == "SUBSCRIBE" && len(args) == 3 || args[0] == "UNSUBSCRIBE" && len(args) == 3 ||
				args[0] == "PUNSUBSCRIBE" && len(args) == 3 {
				out = append(out, rc.read()) // one reply per channel
			}
			out = append(out, rc.read())
		}
		return out
	}
	want, got := run(addr), run(n.addr)
	if len(got) != len(want) {
		t.Fatalf("%d replies, redis-server %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reply %d: statehouse %q, redis-server %q", i, got[i], want[i])
		}
	}
}

// Messages reach channel, pattern and shard-channel subscribers, each in
// its shape; PUBLISH counts the receivers; CLIENT LIST shows subscribers.
func TestPubSubDelivery(t *testing.T) {
	_, c := ksNode(t)
	sub := c.Subscribe(kctx, "news")
	defer sub.Close()
	psub := c.PSubscribe(kctx, "n*")
	defer psub.Close()
	ssub := c.SSubscribe(kctx, "shard-news")
	defer ssub.Close()
	for _, s := range []*redis.PubSub{sub, psub, ssub} {
		if _, err := s.Receive(kctx); err != nil { // the subscription's confirmation
			t.Fatal(err)
		}
	}
	if got, err := c.Publish(kctx, "news", "hello").Result(); err != nil || got != 2 {
		t.Fatalf("PUBLISH: %d, %v, want 2 receivers", got, err)
	}
	if got, err := c.SPublish(kctx, "shard-news", "hi").Result(); err != nil || got != 1 {
		t.Fatalf("SPUBLISH: %d, %v, want 1", got, err)
	}
	ctx, cancel := context.WithTimeout(kctx, 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		ps   *redis.PubSub
		want string
	}{{sub, "Message<news: hello>"}, {psub, "Message<news: hello>"}, {ssub, "Message<shard-news: hi>"}} {
		m, err := tc.ps.ReceiveMessage(ctx)
		if err != nil || m.String() != tc.want {
			t.Fatalf("received %v, %v, want %s", m, err, tc.want)
		}
	}
	list := do(c, "CLIENT", "LIST").Val().(string)
	if !strings.Contains(list, "flags=P db=0 sub=1 psub=0") || !strings.Contains(list, "sub=0 psub=1 ssub=0") {
		t.Fatalf("CLIENT LIST:\n%s", list)
	}
}

// A subscriber that does not read is disconnected once too many messages
// wait for it; the node goes on serving everyone else.
func TestSlowSubscriberIsDisconnected(t *testing.T) {
	n, c := ksNode(t)
	rc := dialRaw(t, n.addr)
	rc.write(encode("SUBSCRIBE", "flood"))
	if got := rc.read(); !strings.Contains(got, "subscribe") {
		t.Fatalf("SUBSCRIBE: %q", got)
	}
	big := strings.Repeat("x", 64<<10)
	// The subscriber reads nothing: the socket buffers fill, then its queue.
	testcluster.Eventually(t, "the subscriber disconnected", func() error {
		for range 1000 {
			if err := c.Publish(kctx, "flood", big).Err(); err != nil {
				return err
			}
		}
		if strings.Contains(do(c, "CLIENT", "LIST").Val().(string), "cmd=subscribe") {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	if err := c.Set(kctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// A user's channel rules: &pattern allows the channels it matches for
// SUBSCRIBE and PUBLISH, and a PSUBSCRIBE pattern only as written.
func TestPubSubChannelPermissions(t *testing.T) {
	n, c := ksNode(t)
	if err := c.Do(kctx, "ACL", "SETUSER", "app", "on", ">pw", "~*", "&events:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, n.addr)
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"AUTH", "app", "pw"}, "+OK\r\n"},
		{[]string{"PUBLISH", "events:login", "x"}, ":0\r\n"},
		{[]string{"PUBLISH", "admin", "x"}, "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"},
		{[]string{"PSUBSCRIBE", "events:l*"}, "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"},
		{[]string{"SUBSCRIBE", "admin"}, "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"},
		{[]string{"PSUBSCRIBE", "events:*"}, "*3\r\n$10\r\npsubscribe\r\n$8\r\nevents:*\r\n:1\r\n"},
	} {
		rc.write(encode(step.args...))
		if got := rc.read(); got != step.want {
			t.Fatalf("%q: %q, want %q", step.args, got, step.want)
		}
	}
}

// dumpHello is redis-server 7.0's DUMP of the string "hello world".
const dumpHello = "\x00\x0bhello world\n\x00\x0b\xfcI\xb9\xa6\xc7\xa04"

// Keyspace notifications: the same commands give the same events, in the
// same order, on statehouse and on redis-server 7.0; an expiry fires
// "expired" once the leader reaps the key.
func TestKeyspaceNotificationsAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	script := [][]string{
		{"SET", "a", "1"}, {"SET", "a", "2", "EX", "100"}, {"GETSET", "a", "3"}, {"APPEND", "a", "x"}, {"SETRANGE", "a", "1", "y"},
		{"INCR", "n"}, {"INCRBY", "n", "5"}, {"DECR", "n"}, {"INCRBYFLOAT", "f", "1.5"}, {"MSET", "m1", "1", "m2", "2"}, {"MSETNX", "m3", "1"},
		{"GETEX", "a", "EX", "50"}, {"GETEX", "a", "PERSIST"}, {"EXPIRE", "a", "100"}, {"PERSIST", "a"}, {"RENAME", "a", "b"},
		{"COPY", "b", "c"}, {"DEL", "b", "c", "nosuch"}, {"HSET", "h", "f", "v"}, {"HSETNX", "h", "g", "1"}, {"HINCRBY", "h", "g", "1"},
		{"HINCRBYFLOAT", "h", "g", "0.5"}, {"HDEL", "h", "f"}, {"HDEL", "h", "g"}, {"SADD", "s", "x", "y"}, {"SREM", "s", "x"}, {"SREM", "s", "y"},
		{"SETNX", "q", "1"}, {"GETDEL", "q"}, {"EXPIRE", "n", "0"}, {"SETEX", "e", "100", "v"}, {"UNLINK", "e"},
		{"LPUSH", "l", "a", "b"}, {"RPUSH", "l", "c", "d"}, {"LPOP", "l"}, {"RPOP", "l", "1"}, {"LSET", "l", "0", "z"},
		{"LINSERT", "l", "BEFORE", "z", "y"}, {"LREM", "l", "0", "y"}, {"LTRIM", "l", "0", "0"}, {"RPUSH", "l", "w"},
		{"RPOPLPUSH", "l", "l2"}, {"LMOVE", "l2", "l3", "LEFT", "RIGHT"}, {"LMOVE", "l3", "l3", "LEFT", "LEFT"},
		{"LPUSHX", "nosuch", "x"}, {"LMPOP", "1", "l3", "LEFT"}, {"BLPOP", "l", "0"}, {"LTRIM", "nosuch", "0", "1"},
		{"RESTORE", "r", "0", dumpHello}, {"RESTORE", "r", "0", dumpHello, "REPLACE"}, {"RESTORE", "r", "1", dumpHello, "ABSTTL", "REPLACE"},
		{"RESTORE", "r", "100000", dumpHello}, {"RPUSH", "sl", "3", "1", "2"}, {"SORT", "sl", "STORE", "sd"}, {"SORT", "nosuch", "STORE", "sd"},
		{"SETBIT", "bm", "7", "1"}, {"SETBIT", "bm", "7", "1"}, {"BITFIELD", "bm", "SET", "u8", "0", "255"}, {"BITFIELD", "bm", "GET", "u8", "0"},
		{"BITFIELD", "bm2", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9"}, {"BITOP", "OR", "bo", "bm", "bm2"}, {"BITOP", "AND", "bo", "nosuch"},
		{"PFADD", "hl", "a", "b"}, {"PFADD", "hl", "a"}, {"PFMERGE", "hl2", "hl"},
		{"SADD", "s1", "a", "b", "c"}, {"SADD", "s2", "b", "c"}, {"SINTERSTORE", "s3", "s1", "s2"}, {"SUNIONSTORE", "s3", "s1", "s2"},
		{"SDIFFSTORE", "s3", "s2", "s1"}, {"SMOVE", "s1", "s2", "a"}, {"SMOVE", "s2", "s4", "a"}, {"SPOP", "s4"}, {"SPOP", "s2", "10"},
		{"SMOVE", "s1", "s1", "b"},
		{"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"}, {"ZADD", "z", "1", "a"}, {"ZADD", "z", "INCR", "1", "a"}, {"ZINCRBY", "z", "1", "e"},
		{"ZREM", "z", "nosuch"}, {"ZREM", "z", "e"}, {"ZPOPMIN", "z"}, {"ZPOPMAX", "z"}, {"ZADD", "z", "5", "e", "6", "f", "7", "g"},
		{"ZREMRANGEBYRANK", "z", "0", "0"}, {"ZREMRANGEBYSCORE", "z", "5", "5"}, {"ZADD", "zl", "0", "a", "0", "b"}, {"ZREMRANGEBYLEX", "zl", "[a", "[a"},
		{"ZUNIONSTORE", "zu", "2", "z", "zl"}, {"ZINTERSTORE", "zi", "2", "z", "zl"}, {"ZDIFFSTORE", "zd", "1", "z"}, {"ZRANGESTORE", "zr", "z", "0", "0"},
		{"ZRANGESTORE", "zr", "z", "5", "6"}, {"ZINTERSTORE", "zu", "2", "z", "nosuch"}, {"ZMPOP", "1", "zd", "MAX", "COUNT", "10"},
		{"BZPOPMIN", "zl", "0"}, {"BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"}, {"ZREMRANGEBYRANK", "zu", "0", "-1"}, {"RENAME", "zr", "zr2"},
		{"SET", "x", "v", "PX", "50"},
	}
	run := func(addr string) []string {
		sub := dialRaw(t, addr)
		sub.write(encode("PSUBSCRIBE", "__key*__:*"))
		sub.read()
		cmd := dialRaw(t, addr)
		cmd.write(encode("CONFIG", "SET", "notify-keyspace-events", "KEA"))
		if got := cmd.read(); got != "+OK\r\n" {
			t.Fatalf("CONFIG SET notify-keyspace-events: %q", got)
		}
		for _, args := range script {
			cmd.write(encode(args...))
			cmd.read()
		}
		var events []string
		for { // until the last key's expiry, which ends the script
			parts := strings.Split(sub.read(), "\r\n") // pmessage, pattern, channel, message
			events = append(events, parts[6]+" "+parts[8])
			if strings.HasSuffix(parts[6], "__:expired") {
				break
			}
		}
		cmd.write(encode("CONFIG", "SET", "notify-keyspace-events", ""))
		cmd.read()
		return events
	}
	want, got := run(addr), run(n.addr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events differ:\nstatehouse:\n%s\n\nredis-server:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("%d events the same", len(got))
}

// DEL of a key past its deadline fires "expired" once (Redis's
// expireIfNeeded in DEL), whether the DEL or the expiry cycle (statehouse:
// the leader's reap) removes it, and no "del".
func TestDelOfExpiredKeyNotifiesExpired(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	run := func(addr string) []string {
		sub := dialRaw(t, addr)
		sub.write(encode("PSUBSCRIBE", "__keyevent@0__:*"))
		sub.read()
		cmd := dialRaw(t, addr)
		cmd.expect("+OK\r\n", "CONFIG", "SET", "notify-keyspace-events", "KEA")
		cmd.expect("+OK\r\n", "SET", "x", "v", "PX", "1")
		time.Sleep(20 * time.Millisecond) // past the deadline; the reap runs every 100 ms
		cmd.expect(":0\r\n", "DEL", "x")
		cmd.expect("+OK\r\n", "SET", "end", "1")
		var events []string
		for {
			parts := strings.Split(sub.read(), "\r\n") // pmessage, pattern, channel, message
			events = append(events, parts[6]+" "+parts[8])
			if parts[8] == "end" {
				break
			}
		}
		cmd.expect("+OK\r\n", "CONFIG", "SET", "notify-keyspace-events", "")
		return events
	}
	want, got := run(addr), run(n.addr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events differ:\nstatehouse:\n%s\n\nredis-server:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// PUBLISH queued in MULTI goes out only once the transaction applied: an
// EXEC aborted by WATCH publishes nothing.
func TestPublishInAbortedExec(t *testing.T) {
	n, c := ksNode(t)
	sub := dialRaw(t, n.addr)
	sub.expect("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", "SUBSCRIBE", "ch")
	tx := dialRaw(t, n.addr)
	tx.expect("+OK\r\n", "WATCH", "k")
	if err := c.Set(kctx, "k", "changed", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tx.expect("+OK\r\n", "MULTI")
	tx.expect("+QUEUED\r\n", "PUBLISH", "ch", "from-aborted-tx")
	tx.expect("+QUEUED\r\n", "SET", "k", "mine")
	tx.expect("*-1\r\n", "EXEC")
	sub.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if msg, err := readValue(sub.r); err == nil {
		t.Errorf("an aborted transaction's PUBLISH was delivered: %q", msg)
	}
}

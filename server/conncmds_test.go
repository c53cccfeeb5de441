package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replies below are worded byte for byte as redis-server 7.0 sends them;
// where statehouse answers differently on purpose, the test says why.

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

func errReply(msg string) string { return "-" + msg + "\r\n" }

func arityErr(name string) string { return errReply(errArity(name)) }

func TestPingEcho(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client()
	if v, err := c.Ping(ctx).Result(); err != nil || v != "PONG" {
		t.Fatalf("PING = %q, %v", v, err)
	}
	if v, err := c.Do(ctx, "PING", "hello").Text(); err != nil || v != "hello" {
		t.Fatalf("PING hello = %q, %v", v, err)
	}
	if v, err := c.Echo(ctx, "a\r\nb\x00c").Result(); err != nil || v != "a\r\nb\x00c" {
		t.Fatalf("ECHO = %q, %v", v, err)
	}

	r := n.raw()
	r.expect("+PONG\r\n", "PING")
	r.expect("+PONG\r\n", "ping")
	r.expect(bulk("hello world"), "PING", "hello world")
	r.expect(bulk(""), "PING", "")
	r.expect(arityErr("ping"), "PING", "a", "b")
	r.expect(bulk("x"), "ECHO", "x")
	r.expect(bulk(""), "ECHO", "")
	r.expect(arityErr("echo"), "ECHO")
	r.expect(arityErr("echo"), "ECHO", "a", "b")
}

func TestQuit(t *testing.T) {
	n := startNode(t)
	r := n.raw()
	// One write: the commands before QUIT are answered, QUIT gets +OK,
	// and nothing after it runs.
	r.write(append(append(append(encode("SET", "before", "1"), encode("PING")...), encode("QUIT")...), encode("SET", "after", "1")...))
	if got := r.read() + r.read() + r.read(); got != "+OK\r\n+PONG\r\n+OK\r\n" {
		t.Fatalf("replies %q", got)
	}
	r.expectClosed()

	r2 := n.raw()
	r2.expect(bulk("1"), "GET", "before")
	r2.expect("$-1\r\n", "GET", "after")
	r2.expect("+OK\r\n", "QUIT", "extra", "args") // QUIT ignores arguments, as in Redis
	r2.expectClosed()
}

func TestReset(t *testing.T) {
	n := startNode(t, withPassword("pw"))
	r := n.raw()
	r.expect("+OK\r\n", "AUTH", "pw")
	r.expect("+OK\r\n", "SELECT", "1")
	r.expect("+OK\r\n", "SET", "k", "db1")
	r.expect("+OK\r\n", "CLIENT", "SETNAME", "before-reset")
	r.expect("+OK\r\n", "WATCH", "k")
	r.expect("+OK\r\n", "MULTI")
	r.expect("+QUEUED\r\n", "SET", "k", "queued")
	r.expect("+RESET\r\n", "RESET")
	// Out of MULTI, back in db 0, no name, and logged out again.
	r.expect(errReply("NOAUTH Authentication required."), "GET", "k")
	r.expect("+OK\r\n", "AUTH", "pw")
	r.expect(errReply("ERR EXEC without MULTI"), "EXEC")
	r.expect("$-1\r\n", "CLIENT", "GETNAME")
	r.expect("$-1\r\n", "GET", "k")
	r.expect("+OK\r\n", "SELECT", "1")
	r.expect(bulk("db1"), "GET", "k") // the queued SET never ran
	r.expect(arityErr("reset"), "RESET", "x")
}

// helloFields parses HELLO's RESP2 reply: a flat array of name, value.
func helloFields(t *testing.T, raw string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(raw, "*14\r\n") {
		t.Fatalf("HELLO reply is not a flat array of 7 pairs: %q", raw)
	}
	parts := strings.Split(strings.TrimSuffix(raw[len("*14\r\n"):], "\r\n"), "\r\n")
	out := map[string]string{}
	for i := 0; i+2 < len(parts); {
		key := parts[i+1]
		switch v := parts[i+2]; v[0] {
		case ':':
			out[key] = v[1:]
			i += 3
		case '*':
			out[key] = v
			i += 3
		default:
			out[key] = parts[i+3]
			i += 4
		}
	}
	return out
}

func TestHello(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()

	// go-redis v9 opens with HELLO 3; NOPROTO makes it fall back to RESP2
	// with a working connection, its name set by CLIENT SETNAME.
	c := n.client(func(o *redis.Options) { o.Protocol = 3; o.ClientName = "sessions" })
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over a Protocol 3 client: %v", err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if v, err := c.ClientGetName(ctx).Result(); err != nil || v != "sessions" {
		t.Fatalf("CLIENT GETNAME = %q, %v", v, err)
	}
	c2 := n.client(func(o *redis.Options) { o.Protocol = 2 })
	if v, err := c2.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET over a Protocol 2 client = %q, %v", v, err)
	}

	r := n.raw()
	// statehouse speaks RESP2 only (redcon writes RESP2): HELLO 3 is refused
	// where Redis would switch to RESP3, and the connection stays usable.
	r.expect(errReply("NOPROTO unsupported protocol version"), "HELLO", "3")
	r.expect("+PONG\r\n", "PING")
	r.expect(errReply("NOPROTO unsupported protocol version"), "HELLO", "1")
	r.expect(errReply("NOPROTO unsupported protocol version"), "HELLO", "4")
	r.expect(errReply("ERR Protocol version is not an integer or out of range"), "HELLO", "x")
	r.expect(errReply("ERR Syntax error in HELLO option 'FOO'"), "HELLO", "2", "FOO")
	r.expect(errReply("ERR Syntax error in HELLO option 'AUTH'"), "HELLO", "2", "AUTH", "default")
	r.expect(errReply("ERR Syntax error in HELLO option 'SETNAME'"), "HELLO", "2", "SETNAME")
	r.expect(errReply("ERR Client names cannot contain spaces, newlines or special characters."), "HELLO", "2", "SETNAME", "a b")

	id := strings.TrimSpace(r.do("CLIENT", "ID")[1:])
	for _, args := range [][]string{{"HELLO"}, {"HELLO", "2"}} {
		f := helloFields(t, r.do(args...))
		want := map[string]string{"server": "statehouse", "version": "0.1.0", "proto": "2", "id": id, "mode": "standalone", "role": "master", "modules": "*0"}
		for k, v := range want {
			if f[k] != v {
				t.Fatalf("%v: %s = %q, want %q (all: %v)", args, k, f[k], v, f)
			}
		}
	}
	helloFields(t, r.do("HELLO", "2", "SETNAME", "first", "setname", "second"))
	r.expect(bulk("second"), "CLIENT", "GETNAME")
	// With no password set, the default user takes any password.
	helloFields(t, r.do("HELLO", "2", "AUTH", "default", "anything"))
	r.expect(errReply("WRONGPASS invalid username-password pair or user is disabled."), "HELLO", "2", "AUTH", "bob", "x")
}

func TestHelloAuth(t *testing.T) {
	n := startNode(t, withPassword("s3cret"))
	noauthHello := errReply("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")

	r := n.raw()
	r.expect(noauthHello, "HELLO")
	r.expect(noauthHello, "HELLO", "2")
	r.expect(errReply("WRONGPASS invalid username-password pair or user is disabled."), "HELLO", "2", "AUTH", "default", "wrong")
	r.expect(errReply("NOAUTH Authentication required."), "GET", "k")
	// A bad option or name refuses the whole HELLO: not even AUTH happens.
	r.expect(errReply("ERR Client names cannot contain spaces, newlines or special characters."), "HELLO", "2", "SETNAME", "a b", "AUTH", "default", "s3cret")
	r.expect(errReply("ERR Syntax error in HELLO option 'FOO'"), "HELLO", "2", "AUTH", "default", "s3cret", "FOO")
	r.expect(errReply("NOAUTH Authentication required."), "GET", "k")

	f := helloFields(t, r.do("HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "web1"))
	if f["proto"] != "2" {
		t.Fatalf("HELLO fields %v", f)
	}
	r.expect("$-1\r\n", "GET", "k")
	r.expect(bulk("web1"), "CLIENT", "GETNAME")
}

func TestAuth(t *testing.T) {
	n := startNode(t, withPassword("s3cret"))
	ctx := context.Background()
	noauth := errReply("NOAUTH Authentication required.")
	wrongpass := errReply("WRONGPASS invalid username-password pair or user is disabled.")

	r := n.raw()
	for _, args := range [][]string{
		{"GET", "k"}, {"SET", "k", "v"}, {"DEL", "k"}, {"PING"}, {"ECHO", "x"}, {"SELECT", "1"},
		{"CLIENT", "ID"}, {"CLIENT", "SETNAME", "x"}, {"COMMAND"}, {"CONFIG", "GET", "*"}, {"INFO"},
		{"TIME"}, {"MULTI"}, {"WATCH", "k"}, {"UNWATCH"}, {"DISCARD"}, {"READONLY"},
	} {
		r.expect(noauth, args...)
	}
	// As Redis checks them: unknown commands and arity before authentication,
	// and a refused EXEC words its reason as EXECABORT.
	r.expect(errReply("ERR unknown command 'foo', with args beginning with: 'x' "), "foo", "x")
	r.expect(arityErr("get"), "GET")
	r.expect(errReply("EXECABORT Transaction discarded because of: NOAUTH Authentication required."), "EXEC")

	r.expect(wrongpass, "AUTH", "wrong")
	r.expect(wrongpass, "AUTH", "default", "wrong")
	r.expect(wrongpass, "AUTH", "bob", "s3cret")
	r.expect(errReply("ERR syntax error"), "AUTH", "a", "b", "c")
	r.expect(arityErr("auth"), "AUTH")
	r.expect(noauth, "GET", "k")
	r.expect("+OK\r\n", "AUTH", "s3cret")
	r.expect("+OK\r\n", "SET", "k", "v")
	r.expect(bulk("v"), "GET", "k")

	r2 := n.raw()
	r2.expect("+OK\r\n", "AUTH", "default", "s3cret")
	r2.expect(bulk("v"), "GET", "k")

	// go-redis: with the password it works; without, or with a wrong one,
	// the error is Redis's.
	good := n.client(func(o *redis.Options) { o.Password = "s3cret" })
	if v, err := good.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("go-redis with Password: %q, %v", v, err)
	}
	good2 := n.client(func(o *redis.Options) { o.Password = "s3cret"; o.Protocol = 2 })
	if v, err := good2.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("go-redis Protocol 2 with Password: %q, %v", v, err)
	}
	if err := n.client().Get(ctx, "k").Err(); err == nil || err.Error() != "NOAUTH Authentication required." {
		t.Fatalf("go-redis without password: %v", err)
	}
	if err := n.client(func(o *redis.Options) { o.Password = "nope" }).Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("go-redis with a wrong password: %v", err)
	}

	// CONFIG SET requirepass: new connections need the new password; a
	// connection already in keeps working. An empty password turns AUTH off.
	r.expect("+OK\r\n", "CONFIG", "SET", "requirepass", "n3w")
	r.expect(bulk("v"), "GET", "k")
	r3 := n.raw()
	r3.expect(wrongpass, "AUTH", "s3cret")
	r3.expect("+OK\r\n", "AUTH", "n3w")
	r.expect("+OK\r\n", "CONFIG", "SET", "requirepass", "")
	n.raw().expect(bulk("v"), "GET", "k")
}

func TestAuthWithoutPassword(t *testing.T) {
	n := startNode(t)
	r := n.raw()
	r.expect(errReply("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"), "AUTH", "x")
	r.expect("+OK\r\n", "AUTH", "default", "anything") // the default user is "nopass"
	r.expect(errReply("WRONGPASS invalid username-password pair or user is disabled."), "AUTH", "bob", "x")
}

// clientFields parses one CLIENT LIST / CLIENT INFO line.
func clientFields(line string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// clientLines returns CLIENT LIST's lines by client id.
func clientLines(t *testing.T, raw string) map[string]map[string]string {
	t.Helper()
	if raw[0] != '$' {
		t.Fatalf("CLIENT LIST reply %q", raw)
	}
	body := raw[strings.Index(raw, "\r\n")+2 : len(raw)-2]
	out := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := clientFields(line)
		out[f["id"]] = f
	}
	return out
}

func intReply(t *testing.T, raw string) int64 {
	t.Helper()
	if raw[0] != ':' {
		t.Fatalf("not an integer reply: %q", raw)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(raw[1:]), 10, 64)
	if err != nil {
		t.Fatalf("integer reply %q: %v", raw, err)
	}
	return v
}

func TestClient(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	a, b := n.raw(), n.raw()
	idA, idB := intReply(t, a.do("CLIENT", "ID")), intReply(t, b.do("CLIENT", "ID"))
	if idA <= 0 || idB <= idA {
		t.Fatalf("client ids %d, %d: want positive and increasing", idA, idB)
	}

	a.expect("$-1\r\n", "CLIENT", "GETNAME")
	a.expect("+OK\r\n", "CLIENT", "SETNAME", "conn-a")
	a.expect(bulk("conn-a"), "CLIENT", "GETNAME")
	a.expect(errReply("ERR Client names cannot contain spaces, newlines or special characters."), "CLIENT", "SETNAME", "a b")
	a.expect(errReply("ERR Client names cannot contain spaces, newlines or special characters."), "CLIENT", "SETNAME", "a\nb")
	a.expect(bulk("conn-a"), "CLIENT", "GETNAME")
	b.expect("+OK\r\n", "CLIENT", "SETNAME", "x")
	b.expect("+OK\r\n", "CLIENT", "SETNAME", "") // clears the name
	b.expect("$-1\r\n", "CLIENT", "GETNAME")

	// SETINFO as Redis 7.2 has it (go-redis sends it on connect).
	a.expect("+OK\r\n", "CLIENT", "SETINFO", "lib-name", "mylib")
	a.expect("+OK\r\n", "CLIENT", "SETINFO", "LIB-VER", "1.2.3")
	a.expect(errReply("ERR Unrecognized option 'foo'"), "CLIENT", "SETINFO", "foo", "x")
	a.expect(errReply("ERR lib-name cannot contain spaces, newlines or special characters."), "CLIENT", "SETINFO", "lib-name", "a b")

	a.expect("+OK\r\n", "SELECT", "3")
	info := a.do("CLIENT", "INFO")
	f := clientFields(info[strings.Index(info, "\r\n")+2:])
	for k, v := range map[string]string{"id": strconv.FormatInt(idA, 10), "name": "conn-a", "db": "3", "lib-name": "mylib", "lib-ver": "1.2.3", "cmd": "client|info", "flags": "N", "multi": "-1"} {
		if f[k] != v {
			t.Fatalf("CLIENT INFO %s = %q, want %q: %q", k, f[k], v, info)
		}
	}

	// CLIENT LIST sees the other connection, its MULTI state included.
	b.expect("+OK\r\n", "MULTI")
	b.expect("+QUEUED\r\n", "SET", "q", "1")
	lines := clientLines(t, a.do("CLIENT", "LIST"))
	lb := lines[strconv.FormatInt(idB, 10)]
	if lb == nil || lb["flags"] != "x" || lb["multi"] != "1" || lb["cmd"] != "set" {
		t.Fatalf("CLIENT LIST line of a client in MULTI: %v", lb)
	}
	if la := lines[strconv.FormatInt(idA, 10)]; la == nil || la["name"] != "conn-a" || la["cmd"] != "client|list" {
		t.Fatalf("CLIENT LIST line of the caller: %v", la)
	}
	b.expect("*1\r\n+OK\r\n", "EXEC")
	if lb := clientLines(t, a.do("CLIENT", "LIST"))[strconv.FormatInt(idB, 10)]; lb["flags"] != "N" || lb["multi"] != "-1" {
		t.Fatalf("CLIENT LIST after EXEC: %v", lb)
	}
	if got := clientLines(t, a.do("CLIENT", "LIST", "TYPE", "normal")); len(got) < 2 {
		t.Fatalf("CLIENT LIST TYPE normal: %v", got)
	}
	a.expect(bulk(""), "CLIENT", "LIST", "TYPE", "pubsub")
	if got := clientLines(t, a.do("CLIENT", "LIST", "ID", strconv.FormatInt(idB, 10), "99999")); len(got) != 1 || got[strconv.FormatInt(idB, 10)] == nil {
		t.Fatalf("CLIENT LIST ID: %v", got)
	}
	a.expect(errReply("ERR Unknown client type 'foo'"), "CLIENT", "LIST", "TYPE", "foo")
	a.expect(errReply("ERR Invalid client ID"), "CLIENT", "LIST", "ID", "abc")
	a.expect(errReply("ERR syntax error"), "CLIENT", "LIST", "foo", "bar")

	// Subcommand errors as Redis 7.0 words them.
	a.expect(arityErr("client"), "CLIENT")
	a.expect(errReply("ERR unknown subcommand 'foo'. Try CLIENT HELP."), "CLIENT", "foo")
	a.expect(arityErr("client|id"), "CLIENT", "ID", "x")
	a.expect(arityErr("client|getname"), "CLIENT", "GETNAME", "x")
	a.expect(arityErr("client|setname"), "CLIENT", "SETNAME")
	a.expect(arityErr("client|kill"), "CLIENT", "KILL")
	a.expect(arityErr("client|info"), "CLIENT", "INFO", "x")
	if h := a.do("CLIENT", "HELP"); !strings.HasPrefix(h, "*") || !strings.Contains(h, "+CLIENT <subcommand>") {
		t.Fatalf("CLIENT HELP: %q", h)
	}

	// go-redis parses CLIENT INFO and CLIENT LIST; it set its library name
	// with CLIENT SETINFO when it connected.
	c := n.client(func(o *redis.Options) { o.ClientName = "gr" })
	ci, err := c.ClientInfo(ctx).Result()
	if err != nil || ci.Name != "gr" || !strings.HasPrefix(ci.LibName, "go-redis") || ci.DB != 0 {
		t.Fatalf("go-redis ClientInfo: %+v, %v", ci, err)
	}
	if id, err := c.ClientID(ctx).Result(); err != nil || id != ci.ID {
		t.Fatalf("go-redis ClientID = %d, %v; CLIENT INFO says %d", id, err, ci.ID)
	}
	if l, err := c.ClientList(ctx).Result(); err != nil || !strings.Contains(l, "name=gr ") {
		t.Fatalf("go-redis ClientList: %q, %v", l, err)
	}
}

func TestClientKill(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	killer := n.raw()

	// By ID: the victim's connection is closed; the node goes on.
	v1 := n.raw()
	id1 := v1.do("CLIENT", "ID")[1:]
	killer.expect(":1\r\n", "CLIENT", "KILL", "ID", strings.TrimSpace(id1))
	v1.expectClosed()

	// By ADDR (the victim's address as the node sees it, from CLIENT INFO).
	v2 := n.raw()
	addr := clientFields(v2.do("CLIENT", "INFO"))["addr"]
	if addr != v2.c.LocalAddr().String() {
		t.Fatalf("CLIENT INFO addr %q, want %q", addr, v2.c.LocalAddr())
	}
	killer.expect(":1\r\n", "CLIENT", "KILL", "ADDR", addr)
	v2.expectClosed()

	// The old form, CLIENT KILL addr, answers +OK.
	v3 := n.raw()
	v3.expect("+PONG\r\n", "PING")
	killer.expect("+OK\r\n", "CLIENT", "KILL", v3.c.LocalAddr().String())
	v3.expectClosed()

	// With go-redis: ClientKillByFilter.
	v4 := n.raw()
	id4 := strings.TrimSpace(v4.do("CLIENT", "ID")[1:])
	if k, err := n.client().ClientKillByFilter(ctx, "ID", id4).Result(); err != nil || k != 1 {
		t.Fatalf("go-redis ClientKillByFilter = %d, %v", k, err)
	}
	v4.expectClosed()

	killer.expect(":0\r\n", "CLIENT", "KILL", "ID", "999999")
	killer.expect(":0\r\n", "CLIENT", "KILL", "ADDR", "1.2.3.4:5")
	killer.expect(errReply("ERR No such client"), "CLIENT", "KILL", "1.2.3.4:5")
	killer.expect(errReply("ERR client-id should be greater than 0"), "CLIENT", "KILL", "ID", "0")
	killer.expect(errReply("ERR client-id should be greater than 0"), "CLIENT", "KILL", "ID", "abc")
	killer.expect(errReply("ERR syntax error"), "CLIENT", "KILL", "FOO", "x")
	killer.expect(errReply("ERR syntax error"), "CLIENT", "KILL", "SKIPME", "maybe")
	// SKIPME yes is the default: a client does not kill itself by ID.
	self := strings.TrimSpace(killer.do("CLIENT", "ID")[1:])
	killer.expect(":0\r\n", "CLIENT", "KILL", "ID", self)
	killer.expect("+PONG\r\n", "PING")
}

func TestCommand(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client()

	// go-redis parses COMMAND as ClusterClient does, and routes reads by
	// the readonly flag.
	cmds, err := c.Command(ctx).Result()
	if err != nil {
		t.Fatalf("go-redis COMMAND: %v", err)
	}
	for name, want := range map[string]struct {
		readOnly           bool
		arity, first, last int8
	}{
		"get": {true, 2, 1, 1}, "set": {false, -3, 1, 1}, "del": {false, -2, 1, -1},
		"ping": {false, -1, 0, 0}, "multi": {false, 1, 0, 0}, "client": {false, -2, 0, 0},
	} {
		ci := cmds[name]
		if ci == nil {
			t.Fatalf("COMMAND has no %q", name)
		}
		if ci.ReadOnly != want.readOnly || ci.Arity != want.arity || ci.FirstKeyPos != want.first || ci.LastKeyPos != want.last {
			t.Fatalf("COMMAND %s = %+v, want %+v", name, ci, want)
		}
	}
	if cmds["statehouse.reap"] != nil {
		t.Fatalf("COMMAND lists the internal reap command")
	}
	count, err := c.Do(ctx, "COMMAND", "COUNT").Int()
	if err != nil || count != len(cmds) {
		t.Fatalf("COMMAND COUNT = %d, %v; COMMAND lists %d", count, err, len(cmds))
	}
	info, err := c.Do(ctx, "COMMAND", "INFO").Slice()
	if err != nil || len(info) != count {
		t.Fatalf("COMMAND INFO with no names: %d entries, %v", len(info), err)
	}

	r := n.raw()
	r.expect("*3\r\n"+
		"*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n"+
		"*10\r\n$3\r\nset\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@write\r\n+@string\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n"+
		"$-1\r\n", "COMMAND", "INFO", "GET", "set", "nosuchcmd")
	// A subcommand is described by its full name, as Redis 7 does.
	r.expect("*1\r\n*10\r\n$11\r\nclient|list\r\n:-2\r\n*5\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n+no_multi\r\n"+
		":0\r\n:0\r\n:0\r\n*4\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n", "COMMAND", "INFO", "CLIENT|LIST")
	if d := r.do("COMMAND", "DOCS", "get"); !strings.HasPrefix(d, "*2\r\n$3\r\nget\r\n*") || !strings.Contains(d, "summary") {
		t.Fatalf("COMMAND DOCS get: %q", d)
	}
	r.expect("*0\r\n", "COMMAND", "DOCS", "nosuchcmd")
	r.expect("*1\r\n"+bulk("k"), "COMMAND", "GETKEYS", "SET", "k", "v")
	r.expect("*3\r\n"+bulk("a")+bulk("b")+bulk("c"), "COMMAND", "GETKEYS", "del", "a", "b", "c")
	r.expect(arityErr("command|getkeys"), "COMMAND", "GETKEYS")
	r.expect(arityErr("command|getkeys"), "COMMAND", "GETKEYS", "get")
	r.expect(errReply("ERR Invalid command specified"), "COMMAND", "GETKEYS", "nosuch", "a")
	r.expect(errReply("ERR Invalid number of arguments specified for command"), "COMMAND", "GETKEYS", "get", "a", "b")
	r.expect(errReply("ERR The command has no key arguments"), "COMMAND", "GETKEYS", "ping", "x")
	if keys, err := c.CommandGetKeys(ctx, "set", "session:1", "v").Result(); err != nil || len(keys) != 1 || keys[0] != "session:1" {
		t.Fatalf("go-redis COMMAND GETKEYS: %v, %v", keys, err)
	}
	r.expect(errReply("ERR unknown subcommand 'foo'. Try COMMAND HELP."), "COMMAND", "foo")
	r.expect(arityErr("command|count"), "COMMAND", "COUNT", "x")
	if h := r.do("COMMAND", "HELP"); !strings.HasPrefix(h, "*") || !strings.Contains(h, "+COMMAND <subcommand>") {
		t.Fatalf("COMMAND HELP: %q", h)
	}
}

// arrayOfBulks parses a flat array of bulk strings.
func arrayOfBulks(t *testing.T, raw string) []string {
	t.Helper()
	if raw[0] != '*' {
		t.Fatalf("not an array: %q", raw)
	}
	lines := strings.Split(raw, "\r\n")
	var out []string
	for i := 1; i+1 < len(lines); i += 2 {
		out = append(out, lines[i+1])
	}
	return out
}

func TestConfig(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	r := n.raw()

	// What redis-benchmark and friends ask at start.
	r.expect("*2\r\n"+bulk("save")+bulk(""), "CONFIG", "GET", "save")
	r.expect("*2\r\n"+bulk("appendonly")+bulk("no"), "CONFIG", "GET", "appendonly")
	r.expect("*2\r\n"+bulk("databases")+bulk("16"), "CONFIG", "GET", "DATABASES")
	_, port, _ := strings.Cut(n.addr, ":")
	r.expect("*2\r\n"+bulk("port")+bulk(port), "CONFIG", "GET", "port")
	r.expect("*0\r\n", "CONFIG", "GET", "nosuch")
	// Patterns, several at once, each name once.
	if got := strings.Join(arrayOfBulks(t, r.do("CONFIG", "GET", "max*")), " "); got != "max-args 1048576 maxclients 10000 maxmemory 0 maxmemory-policy noeviction maxmemory-samples 5" {
		t.Fatalf("CONFIG GET max*: %q", got)
	}
	if got := strings.Join(arrayOfBulks(t, r.do("CONFIG", "GET", "port", "databases", "p*")), " "); got != "port "+port+" databases 16 protected-mode no proto-max-bulk-len 16777216" {
		t.Fatalf("CONFIG GET port databases p*: %q", got)
	}
	all := arrayOfBulks(t, r.do("CONFIG", "GET", "*"))
	if len(all) != 2*len(configParams) {
		t.Fatalf("CONFIG GET * has %d entries, want %d", len(all), 2*len(configParams))
	}
	if m, err := n.client().ConfigGet(ctx, "*max*").Result(); err != nil || m["maxclients"] != "10000" || m["proto-max-bulk-len"] != "16777216" {
		t.Fatalf("go-redis CONFIG GET: %v, %v", m, err)
	}

	r.expect("+OK\r\n", "CONFIG", "SET", "maxclients", "500")
	r.expect("*2\r\n"+bulk("maxclients")+bulk("500"), "CONFIG", "GET", "maxclients")
	r.expect("+OK\r\n", "CONFIG", "SET", "MAXCLIENTS", "600", "proto-max-bulk-len", "1mb")
	r.expect("*4\r\n"+bulk("maxclients")+bulk("600")+bulk("proto-max-bulk-len")+bulk("1048576"), "CONFIG", "GET", "maxclients", "proto-max-bulk-len")
	failed := func(name, why string) string {
		return errReply("ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + why)
	}
	r.expect(errReply("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"), "CONFIG", "SET", "nosuch", "1")
	r.expect(failed("maxclients", "argument couldn't be parsed into an integer"), "CONFIG", "SET", "maxclients", "abc")
	r.expect(failed("maxclients", "argument must be between 1 and 4294967295 inclusive"), "CONFIG", "SET", "maxclients", "0")
	r.expect(failed("proto-max-bulk-len", "argument must be a memory value"), "CONFIG", "SET", "proto-max-bulk-len", "lots")
	r.expect(failed("port", "can't set immutable config"), "CONFIG", "SET", "port", "1")
	r.expect(failed("databases", "can't set immutable config"), "CONFIG", "SET", "databases", "3")
	r.expect(failed("maxclients", "duplicate parameter"), "CONFIG", "SET", "maxclients", "1", "maxclients", "2")
	r.expect(errReply("ERR syntax error"), "CONFIG", "SET", "maxclients", "1", "timeout")
	// All or nothing: a bad value leaves the good one before it unapplied.
	r.expect(failed("proto-max-bulk-len", "argument must be a memory value"), "CONFIG", "SET", "maxclients", "700", "proto-max-bulk-len", "lots")
	r.expect(errReply("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"), "CONFIG", "SET", "maxclients", "700", "nosuch", "1")
	r.expect("*2\r\n"+bulk("maxclients")+bulk("600"), "CONFIG", "GET", "maxclients")
	if err := n.client().ConfigSet(ctx, "maxclients", "10000").Err(); err != nil {
		t.Fatalf("go-redis CONFIG SET: %v", err)
	}

	r.expect("+OK\r\n", "CONFIG", "RESETSTAT")
	r.expect(arityErr("config"), "CONFIG")
	r.expect(arityErr("config|get"), "CONFIG", "GET")
	r.expect(arityErr("config|set"), "CONFIG", "SET", "maxclients")
	r.expect(arityErr("config|resetstat"), "CONFIG", "RESETSTAT", "x")
	r.expect(errReply("ERR unknown subcommand 'foo'. Try CONFIG HELP."), "CONFIG", "foo")
	if h := r.do("CONFIG", "HELP"); !strings.HasPrefix(h, "*") || !strings.Contains(h, "+CONFIG <subcommand>") {
		t.Fatalf("CONFIG HELP: %q", h)
	}
}

// CONFIG SET maxclients meets the open-files limit as the start does,
// and as Redis does: the soft limit is raised toward the hard one when the
// value needs it, and a value the hard limit cannot serve is refused in
// Redis's words, naming the most the process can take, and changes nothing.
// Not parallel: it lowers the process's soft limit for a while.
func TestConfigSetMaxclientsOpenFiles(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if orig.Max >= math.MaxUint32 || orig.Max < 1024 {
		t.Skipf("open-files hard limit %d: every maxclients (or none) fits it", orig.Max)
	}
	n := startNode(t)
	r := n.raw()
	most := strconv.FormatUint(orig.Max-reservedFDs, 10)

	// A soft limit below what the value needs is raised, as at start.
	low := orig
	low.Cur = 2 * reservedFDs
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatalf("lower the soft limit: %v", err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	r.expect("+OK\r\n", "CONFIG", "SET", "maxclients", most)
	r.expect("*2\r\n"+bulk("maxclients")+bulk(most), "CONFIG", "GET", "maxclients")
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil || now.Cur != orig.Max {
		t.Fatalf("soft limit after CONFIG SET maxclients %s: %d (%v), want the hard limit %d", most, now.Cur, err, orig.Max)
	}

	// Well within it still works; one more than the hard limit leaves
	// room for is refused.
	r.expect("+OK\r\n", "CONFIG", "SET", "maxclients", "500")
	refused := errReply("ERR CONFIG SET failed (possibly related to argument 'maxclients') - " +
		"The operating system is not able to handle the specified number of clients, try with " + most)
	tooMany := strconv.FormatUint(orig.Max-reservedFDs+1, 10)
	r.expect(refused, "CONFIG", "SET", "maxclients", tooMany)
	r.expect(refused, "CONFIG", "SET", "maxclients", "4294967295")
	// All or nothing: the timeout set beside it is not applied either.
	r.expect(refused, "CONFIG", "SET", "timeout", "7", "maxclients", tooMany)
	r.expect("*4\r\n"+bulk("maxclients")+bulk("500")+bulk("timeout")+bulk("0"), "CONFIG", "GET", "maxclients", "timeout")
	if info := r.do("INFO", "clients"); !strings.Contains(info, "maxclients:500\r\n") {
		t.Fatalf("INFO clients after the refused CONFIG SET: %q", info)
	}
}

func TestInfo(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client()

	keyspace, err := c.Info(ctx, "keyspace").Result()
	if err != nil || keyspace != "# Keyspace\r\n" {
		t.Fatalf("INFO keyspace of an empty node: %q, %v", keyspace, err)
	}
	r := n.raw()
	for _, k := range []string{"a", "b", "c"} {
		r.expect("+OK\r\n", "SET", k, "v")
	}
	r.expect("+OK\r\n", "SELECT", "5")
	r.expect("+OK\r\n", "SET", "x", "v")
	r.expect("+OK\r\n", "SET", "y", "v")

	_, port, _ := strings.Cut(n.addr, ":")
	sections := []struct {
		name   string
		header string
		want   []string
	}{
		{"server", "# Server", []string{"redis_version:7.0.0", "redis_mode:standalone", "tcp_port:" + port, "run_id:", "uptime_in_seconds:"}},
		{"clients", "# Clients", []string{"connected_clients:", "maxclients:10000", "blocked_clients:0"}},
		{"memory", "# Memory", []string{"used_memory:", "used_memory_human:", "maxmemory:0", "maxmemory_policy:noeviction"}},
		{"persistence", "# Persistence", []string{"loading:0", "aof_enabled:1", "raft_applied_index:", "raft_entries_proposed:", "raft_writes_proposed:"}},
		{"stats", "# Stats", []string{"total_connections_received:", "total_commands_processed:", "rejected_connections:0"}},
		{"replication", "# Replication", []string{"role:master", "connected_slaves:0", "raft_state:leader"}},
		{"cluster", "# Cluster", []string{"cluster_enabled:1\r\n"}},
		{"keyspace", "# Keyspace", []string{"db0:keys=3,expires=0,avg_ttl=0\r\n", "db5:keys=2,expires=0,avg_ttl=0\r\n"}},
	}
	all, err := c.Info(ctx).Result()
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	at := -1
	for _, sec := range sections {
		i := strings.Index(all, sec.header+"\r\n")
		if i <= at {
			t.Fatalf("INFO: section %q missing or out of order:\n%s", sec.header, all)
		}
		at = i

		got, err := c.Info(ctx, sec.name).Result()
		if err != nil || !strings.HasPrefix(got, sec.header+"\r\n") || strings.Count(got, "# ") != 1 {
			t.Fatalf("INFO %s: %q, %v", sec.name, got, err)
		}
		for _, w := range sec.want {
			if !strings.Contains(got, "\r\n"+w) {
				t.Fatalf("INFO %s has no %q:\n%s", sec.name, w, got)
			}
		}
	}
	// connected_clients counts this connection and go-redis's.
	clients := r.do("INFO", "CLIENTS")
	if !strings.Contains(clients, "connected_clients:2\r\n") {
		t.Fatalf("INFO CLIENTS: %q", clients)
	}
	both := r.do("INFO", "server", "keyspace")
	if !strings.Contains(both, "# Server\r\n") || !strings.Contains(both, "# Keyspace\r\n") || strings.Contains(both, "# Clients") {
		t.Fatalf("INFO server keyspace: %q", both)
	}
	r.expect(bulk(""), "INFO", "nosuchsection")
	if everything := r.do("INFO", "everything"); strings.Count(everything, "# ") != len(sections) {
		t.Fatalf("INFO everything: %q", everything)
	}
}

func TestTime(t *testing.T) {
	n := startNode(t)
	r := n.raw()
	parts := arrayOfBulks(t, r.do("TIME"))
	if len(parts) != 2 {
		t.Fatalf("TIME: %q", parts)
	}
	sec, err1 := strconv.ParseInt(parts[0], 10, 64)
	usec, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || sec < 1_600_000_000 || usec < 0 || usec >= 1_000_000 {
		t.Fatalf("TIME = %q", parts)
	}
	if _, err := n.client().Time(context.Background()).Result(); err != nil {
		t.Fatalf("go-redis TIME: %v", err)
	}
	r.expect(arityErr("time"), "TIME", "x")
}

func TestSelect(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	r := n.raw()
	for db := 0; db < 16; db++ {
		r.expect("+OK\r\n", "SELECT", strconv.Itoa(db))
		r.expect("$-1\r\n", "GET", "k") // each database starts empty
		r.expect("+OK\r\n", "SET", "k", "db"+strconv.Itoa(db))
	}
	for db := 15; db >= 0; db-- {
		r.expect("+OK\r\n", "SELECT", strconv.Itoa(db))
		r.expect(bulk("db"+strconv.Itoa(db)), "GET", "k")
	}
	r.expect(errReply("ERR DB index is out of range"), "SELECT", "16")
	r.expect(errReply("ERR DB index is out of range"), "SELECT", "-1")
	r.expect(errReply("ERR value is not an integer or out of range"), "SELECT", "abc")
	r.expect(errReply("ERR value is not an integer or out of range"), "SELECT", "01")
	r.expect(arityErr("select"), "SELECT")
	r.expect(bulk("db0"), "GET", "k") // still on db 0 after the errors

	// go-redis selects its DB when it connects; DEL only touches that db.
	c := n.client(func(o *redis.Options) { o.DB = 7 })
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "db7" {
		t.Fatalf("go-redis DB 7: GET = %q, %v", v, err)
	}
	if d, err := c.Del(ctx, "k").Result(); err != nil || d != 1 {
		t.Fatalf("DEL in db 7 = %d, %v", d, err)
	}
	r.expect("+OK\r\n", "SELECT", "7")
	r.expect("$-1\r\n", "GET", "k")
	r.expect("+OK\r\n", "SELECT", "6")
	r.expect(bulk("db6"), "GET", "k")
}

func TestMultiExec(t *testing.T) {
	n := startNode(t)
	r := n.raw()
	r.expect(errReply("ERR EXEC without MULTI"), "EXEC")
	r.expect(errReply("ERR DISCARD without MULTI"), "DISCARD")

	// Queued commands run in order; SELECT, PING and ECHO answer in place.
	r.expect("+OK\r\n", "MULTI")
	r.expect(errReply("ERR MULTI calls can not be nested"), "MULTI")
	r.expect(errReply("ERR WATCH inside MULTI is not allowed"), "WATCH", "k")
	for _, args := range [][]string{
		{"SET", "a", "1"}, {"GET", "a"}, {"PING"}, {"SELECT", "1"}, {"ECHO", "e"}, {"SET", "b", "2"}, {"PING", "p"}, {"GET", "a"},
	} {
		r.expect("+QUEUED\r\n", args...)
	}
	r.expect("*8\r\n+OK\r\n"+bulk("1")+"+PONG\r\n+OK\r\n"+bulk("e")+"+OK\r\n"+bulk("p")+"$-1\r\n", "EXEC")
	// The SELECT inside the transaction stays in effect after it.
	r.expect(bulk("2"), "GET", "b")
	r.expect("+OK\r\n", "SELECT", "0")
	r.expect(bulk("1"), "GET", "a")
	r.expect("$-1\r\n", "GET", "b")

	// As in Redis, a bad SELECT or PING queues and fails inside EXEC alone.
	r.expect("+OK\r\n", "MULTI")
	r.expect("+QUEUED\r\n", "SELECT", "99")
	r.expect("+QUEUED\r\n", "SELECT", "abc")
	r.expect("+QUEUED\r\n", "PING", "a", "b")
	r.expect("+QUEUED\r\n", "SET", "c", "1")
	r.expect("*4\r\n"+errReply("ERR DB index is out of range")+errReply("ERR value is not an integer or out of range")+arityErr("ping")+"+OK\r\n", "EXEC")
	r.expect(bulk("1"), "GET", "c") // still db 0

	// An unknown command or a wrong arity while queuing aborts EXEC.
	for _, bad := range [][]string{{"FOO", "x"}, {"SET", "a"}, {"GET"}, {"MULTI", "x"}, {"statehouse.reap", "a", "1"}} {
		r.expect("+OK\r\n", "MULTI")
		r.expect("+QUEUED\r\n", "SET", "aborted", "1")
		if got := r.do(bad...); got[0] != '-' {
			t.Fatalf("%q inside MULTI: %q", bad, got)
		}
		r.expect(errReply("EXECABORT Transaction discarded because of previous errors."), "EXEC")
		r.expect("$-1\r\n", "GET", "aborted")
	}
	// statehouse refuses connection commands other than SELECT, PING and ECHO
	// inside MULTI (Redis would queue CLIENT, CONFIG, INFO...); the
	// transaction aborts rather than run without them.
	r.expect("+OK\r\n", "MULTI")
	r.expect(errReply("ERR Command not allowed inside a transaction"), "CLIENT", "ID")
	r.expect(errReply("EXECABORT Transaction discarded because of previous errors."), "EXEC")

	// A wrong EXEC discards the transaction, as Redis words it.
	r.expect("+OK\r\n", "MULTI")
	r.expect("+QUEUED\r\n", "SET", "aborted", "1")
	r.expect(errReply("EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"), "EXEC", "x")
	r.expect(errReply("ERR EXEC without MULTI"), "EXEC")
	r.expect("$-1\r\n", "GET", "aborted")

	// DISCARD drops what was queued.
	r.expect("+OK\r\n", "MULTI")
	r.expect("+QUEUED\r\n", "SET", "d", "1")
	r.expect("+OK\r\n", "DISCARD")
	r.expect("$-1\r\n", "GET", "d")
	r.expect("+OK\r\n", "MULTI")
	r.expect("*0\r\n", "EXEC")
}

func TestWatch(t *testing.T) {
	n := startNode(t)
	a, b := n.raw(), n.raw()

	// Another connection changes a watched key: EXEC returns nil, nothing runs.
	for _, change := range [][]string{{"SET", "w", "other"}, {"DEL", "w"}} {
		a.expect("+OK\r\n", "SET", "w", "start")
		a.expect("+OK\r\n", "WATCH", "w")
		b.expect(map[string]string{"SET": "+OK\r\n", "DEL": ":1\r\n"}[change[0]], change...)
		a.expect("+OK\r\n", "MULTI")
		a.expect("+QUEUED\r\n", "SET", "w", "mine")
		a.expect("+QUEUED\r\n", "SET", "side", "effect")
		a.expect("+QUEUED\r\n", "PING")
		a.expect("*-1\r\n", "EXEC")
		a.expect("$-1\r\n", "GET", "side")
	}
	// Watching a missing key that another connection creates.
	a.expect("+OK\r\n", "WATCH", "fresh")
	b.expect("+OK\r\n", "SET", "fresh", "x")
	a.expect("+OK\r\n", "MULTI")
	a.expect("+QUEUED\r\n", "SELECT", "2")
	a.expect("*-1\r\n", "EXEC")
	a.expect(bulk("x"), "GET", "fresh") // the queued SELECT did not run

	// No change: EXEC runs.
	a.expect("+OK\r\n", "WATCH", "w", "fresh")
	a.expect("+OK\r\n", "MULTI")
	a.expect("+QUEUED\r\n", "SET", "w", "mine")
	a.expect("*1\r\n+OK\r\n", "EXEC")
	a.expect(bulk("mine"), "GET", "w")

	// The same name in another database is another key.
	a.expect("+OK\r\n", "SELECT", "1")
	a.expect("+OK\r\n", "WATCH", "w")
	b.expect("+OK\r\n", "SET", "w", "db0")
	a.expect("+OK\r\n", "MULTI")
	a.expect("+QUEUED\r\n", "SET", "w", "db1")
	a.expect("*1\r\n+OK\r\n", "EXEC")
	a.expect("+OK\r\n", "SELECT", "0")

	// UNWATCH, DISCARD and EXEC each forget the watched keys.
	for _, forget := range [][]string{{"UNWATCH"}, {"MULTI", "DISCARD"}, {"MULTI", "EXEC"}} {
		a.expect("+OK\r\n", "WATCH", "w")
		for _, cmd := range forget {
			if got := a.do(cmd); got != "+OK\r\n" && got != "*0\r\n" {
				t.Fatalf("%s: %q", cmd, got)
			}
		}
		b.expect("+OK\r\n", "SET", "w", "changed")
		a.expect("+OK\r\n", "MULTI")
		a.expect("+QUEUED\r\n", "SET", "w", "after-"+forget[0])
		a.expect("*1\r\n+OK\r\n", "EXEC")
	}
}

func TestWatchGoRedis(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c, other := n.client(), n.client()
	if err := c.Set(ctx, "counter", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Conflict: another client writes between WATCH and EXEC.
	err := c.Watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, "counter").Result()
		if err != nil {
			return err
		}
		if err := other.Set(ctx, "counter", "99", 0).Err(); err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "counter", v+"0", 0)
			return nil
		})
		return err
	}, "counter")
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("Watch with a conflicting write: %v, want redis.TxFailedErr", err)
	}
	if v, _ := c.Get(ctx, "counter").Result(); v != "99" {
		t.Fatalf("counter = %q after the failed transaction", v)
	}

	// No conflict: the transaction applies and go-redis sees every reply.
	var get *redis.StringCmd
	err = c.Watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, "counter").Int()
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "counter", v+1, 0)
			get = p.Get(ctx, "counter")
			return nil
		})
		return err
	}, "counter")
	if err != nil || get.Val() != "100" {
		t.Fatalf("Watch without conflict: %v, GET in the transaction = %q", err, get.Val())
	}

	// TxPipelined with no WATCH.
	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "t1", "a", 0)
		p.Echo(ctx, "mid")
		p.Get(ctx, "t1")
		return nil
	})
	if err != nil || len(cmds) != 3 || cmds[1].(*redis.StringCmd).Val() != "mid" || cmds[2].(*redis.StringCmd).Val() != "a" {
		t.Fatalf("TxPipelined: %v, %v", cmds, err)
	}
}

func TestUnknownCommandsAndArity(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	r := n.raw()
	r.expect(errReply("ERR unknown command 'foo', with args beginning with: 'a' 'b' "), "foo", "a", "b")
	r.expect(errReply("ERR unknown command 'FOO', with args beginning with: "), "FOO")
	r.expect(errReply("ERR unknown command '', with args beginning with: "), "")
	// Arguments are listed while the list is under 128 bytes, each cut to
	// what is left; the name is cut at 128; C's %s stops at a NUL byte; a
	// newline becomes a space. All as redis-server 7.0 answers.
	r.expect(errReply("ERR unknown command 'foo', with args beginning with: '"+strings.Repeat("y", 100)+"' '"+strings.Repeat("z", 25)+"' "),
		"foo", strings.Repeat("y", 100), strings.Repeat("z", 100), "w")
	r.expect(errReply("ERR unknown command 'foo', with args beginning with: '"+strings.Repeat("a", 126)+"' "), "foo", strings.Repeat("a", 126), "b", "c")
	r.expect(errReply("ERR unknown command 'foo', with args beginning with: '1' '2' '3' '4' '5' '6' '7' '8' '9' '10' '11' '12' "),
		"foo", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
	r.expect(errReply("ERR unknown command '"+strings.Repeat("F", 128)+"', with args beginning with: 'a' "), strings.Repeat("F", 200), "a")
	r.expect(errReply("ERR unknown command 'FO', with args beginning with: 'a' 'c' "), "FO\x00O", "a\x00b", "c")
	r.expect(errReply("ERR unknown command 'foo', with args beginning with: 'a b' "), "foo", "a\rb")
	r.expect(errReply("ERR unknown command 'foo', with args beginning with: 'a  b' "), "foo", "a\r\nb")
	// The internal reap command is not a client's to call.
	r.expect(errReply("ERR unknown command 'statehouse.reap', with args beginning with: 'k' '1' "), "statehouse.reap", "k", "1")
	if err := n.client().Do(ctx, "foo", "a", "b").Err(); err == nil || err.Error() != "ERR unknown command 'foo', with args beginning with: 'a' 'b' " {
		t.Fatalf("go-redis unknown command: %v", err)
	}

	for _, args := range [][]string{{"GET"}, {"GET", "a", "b"}, {"SET", "k"}, {"DEL"}, {"ECHO"}, {"SELECT"}, {"AUTH"}, {"MULTI", "x"}, {"WATCH"}, {"CLIENT"}, {"CONFIG"}} {
		r.expect(arityErr(strings.ToLower(args[0])), args...)
	}
	r.expect(arityErr("get"), "GeT") // the name is lower case, as Redis prints it
	r.expect("+PONG\r\n", "PING")
}

func TestPipeline(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client()

	// 1000 mixed SET/GET in one go-redis pipeline: every reply in order and
	// right, a GET seeing the SETs before it in the same pipeline.
	model := map[string]string{}
	type expect struct {
		cmd  redis.Cmder
		want string
		miss bool
	}
	var want []expect
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 1000; i++ {
			key := "p" + strconv.Itoa(i*7%53)
			if i%3 == 0 {
				val := "v" + strconv.Itoa(i)
				model[key] = val
				want = append(want, expect{cmd: p.Set(ctx, key, val, 0), want: "OK"})
			} else {
				v, ok := model[key]
				want = append(want, expect{cmd: p.Get(ctx, key), want: v, miss: !ok})
			}
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		t.Fatalf("pipeline: %v", err)
	}
	for i, w := range want {
		switch cmd := w.cmd.(type) {
		case *redis.StatusCmd:
			if cmd.Val() != "OK" || cmd.Err() != nil {
				t.Fatalf("command %d (SET): %q, %v", i, cmd.Val(), cmd.Err())
			}
		case *redis.StringCmd:
			if w.miss {
				if cmd.Err() != redis.Nil {
					t.Fatalf("command %d (GET of a missing key): %q, %v", i, cmd.Val(), cmd.Err())
				}
			} else if cmd.Val() != w.want || cmd.Err() != nil {
				t.Fatalf("command %d (GET): %q, %v; want %q", i, cmd.Val(), cmd.Err(), w.want)
			}
		}
	}

	// One write holding writes, reads, errors and connection commands.
	r := n.raw()
	var batch []byte
	for _, args := range [][]string{
		{"SET", "x", "1"}, {"SET", "y", "2"}, {"GET", "x"}, {"PING"}, {"SET", "x", "3"}, {"FOO"},
		{"GET", "x"}, {"SELECT", "4"}, {"GET", "x"}, {"SET", "x", "db4"}, {"GET", "x"}, {"SET", "k"}, {"DEL", "x", "y"}, {"ECHO", "end"},
	} {
		batch = append(batch, encode(args...)...)
	}
	r.write(batch)
	var got string
	for i := 0; i < 14; i++ {
		got += r.read()
	}
	want14 := "+OK\r\n+OK\r\n" + bulk("1") + "+PONG\r\n+OK\r\n" + errReply("ERR unknown command 'FOO', with args beginning with: ") +
		bulk("3") + "+OK\r\n$-1\r\n+OK\r\n" + bulk("db4") + arityErr("set") + ":1\r\n" + bulk("end")
	if got != want14 {
		t.Fatalf("pipelined replies:\n got %q\nwant %q", got, want14)
	}
}

func TestMaxClients(t *testing.T) {
	n := startNode(t)
	a := n.raw()
	a.expect("+OK\r\n", "CONFIG", "SET", "maxclients", "2")
	b := n.raw()
	b.expect("+PONG\r\n", "PING") // b is in: two clients now
	c := n.raw()
	c.c.SetReadDeadline(time.Now().Add(hangGuard))
	line, err := c.r.ReadString('\n')
	if err != nil || line != "-ERR max number of clients reached\r\n" {
		t.Fatalf("third client: %q, %v", line, err)
	}
	c.expectClosed()
	if !strings.Contains(a.do("INFO", "stats"), "rejected_connections:1\r\n") {
		t.Fatalf("rejected_connections not counted")
	}
	a.expect("+PONG\r\n", "PING")
	b.expect("+PONG\r\n", "PING")
	a.expect("+OK\r\n", "CONFIG", "SET", "maxclients", "10000")
}

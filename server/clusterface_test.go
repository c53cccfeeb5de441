package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// The cluster face of a single node: it is the master of every slot,
// named by the SHA-1 of its node id.
func TestClusterFaceOfOneNode(t *testing.T) {
	n := startNode(t)
	r := n.raw()
	myid := nodeName("n1")
	if myid != "40b3eab63f3f1d4fa48e09559401c5ed4efceaa6" || len(myid) != 40 {
		t.Fatalf("nodeName(n1) = %q, want SHA-1(n1) in hex (sha1sum)", myid)
	}
	r.expect(bulk(myid), "CLUSTER", "MYID")
	host, port := hostPort(n.addr)
	r.expect("*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n"+bulk(host)+":"+strconv.Itoa(port)+"\r\n"+bulk(myid)+"*0\r\n", "CLUSTER", "SLOTS")

	_, bus := hostPort(n.node.PeerAddr())
	nodes := r.do("CLUSTER", "NODES")
	want := fmt.Sprintf("%s %s@%d myself,master - 0 0 %s connected 0-16383\n", myid, n.addr, bus, n.node.Status().Term)
	if nodes != bulk(want) {
		t.Fatalf("CLUSTER NODES = %q, want %q", nodes, bulk(want))
	}
	info := r.do("CLUSTER", "INFO")
	for _, w := range []string{"\r\ncluster_state:ok\r\n", "cluster_slots_ok:16384\r\n", "cluster_known_nodes:1\r\n", "cluster_size:1\r\n"} {
		if !strings.Contains(info, w) {
			t.Errorf("CLUSTER INFO has no %q: %q", w, info)
		}
	}
	shards := r.do("CLUSTER", "SHARDS")
	for _, w := range []string{bulk("slots") + "*2\r\n:0\r\n:16383\r\n" + bulk("nodes") + "*1\r\n*14\r\n" + bulk("id") + bulk(myid),
		bulk("role") + bulk("master"), bulk("health") + bulk("online")} {
		if !strings.Contains(shards, w) {
			t.Errorf("CLUSTER SHARDS has no %q: %q", w, shards)
		}
	}
	r.expect(":12182\r\n", "CLUSTER", "KEYSLOT", "foo")
	if h := r.do("CLUSTER", "HELP"); !strings.Contains(h, "+KEYSLOT <key>\r\n") {
		t.Fatalf("CLUSTER HELP: %q", h)
	}

	// Who may, and what if they send garbage.
	r.expect(arityErr("cluster"), "CLUSTER")
	r.expect(arityErr("cluster|keyslot"), "CLUSTER", "KEYSLOT")
	r.expect(arityErr("cluster|slots"), "CLUSTER", "SLOTS", "x")
	r.expect(errReply("ERR unknown subcommand 'ADDSLOTS'. Try CLUSTER HELP."), "CLUSTER", "ADDSLOTS", "1")
	r.expect("+OK\r\n", "MULTI")
	r.expect(errReply("ERR Command not allowed inside a transaction"), "CLUSTER", "SLOTS")
	r.expect(errReply("EXECABORT Transaction discarded because of previous errors."), "EXEC")
	locked := startNode(t, withPassword("pw"))
	locked.raw().expect(errReply("NOAUTH Authentication required."), "CLUSTER", "SLOTS")

	// A READONLY connection to the leader writes as any other.
	r.expect("+OK\r\n", "READONLY")
	r.expect("+OK\r\n", "SET", "foo", "bar")
	r.expect(":1\r\n", "CLUSTER", "COUNTKEYSINSLOT", "12182")
}

// The keys of a slot are those of the connection's database, live ones
// only, and GETKEYSINSLOT's count bounds nothing but the reply.
func TestClusterKeysInSlot(t *testing.T) {
	n := startNode(t)
	r := n.raw()
	for i := range 5 {
		r.expect("+OK\r\n", "SET", fmt.Sprintf("{cart}%d", i), "x")
	}
	r.expect("+OK\r\n", "SET", "{cart}gone", "x", "PX", "1")
	slot := strconv.Itoa(fsm.KeySlot([]byte("cart")))
	testcluster.Eventually(t, "{cart}gone expired", noneExist(n.client(), "{cart}gone"))
	r.expect(":5\r\n", "CLUSTER", "COUNTKEYSINSLOT", slot)
	if keys := arrayOfBulks(t, r.do("CLUSTER", "GETKEYSINSLOT", slot, "9223372036854775807")); len(keys) != 5 {
		t.Fatalf("GETKEYSINSLOT with the largest count: %q", keys)
	}
	if keys := arrayOfBulks(t, r.do("CLUSTER", "GETKEYSINSLOT", slot, "2")); len(keys) != 2 {
		t.Fatalf("GETKEYSINSLOT 2: %q", keys)
	}
	r.expect("*0\r\n", "CLUSTER", "GETKEYSINSLOT", slot, "0")
	r.expect("+OK\r\n", "SELECT", "1")
	r.expect(":0\r\n", "CLUSTER", "COUNTKEYSINSLOT", slot)
}

// What redis-server 7.0 in cluster mode answers, statehouse answers alike:
// errors byte for byte, the keys of a slot, and the shape of SLOTS,
// SHARDS, NODES and INFO (the values differ: addresses, ids, offsets).
func TestClusterFaceMatchesRedis(t *testing.T) {
	addr := testcluster.StartRedisCluster(t)
	n := startNode(t)
	ours, theirs := n.raw(), dialRaw(t, addr)
	both := func(args ...string) (string, string) { return ours.do(args...), theirs.do(args...) }

	for _, args := range [][]string{
		{"CLUSTER"}, {"CLUSTER", "KEYSLOT"}, {"CLUSTER", "KEYSLOT", "a", "b"}, {"CLUSTER", "SLOTS", "x"},
		{"CLUSTER", "SHARDS", "x"}, {"CLUSTER", "NODES", "x"}, {"CLUSTER", "INFO", "x"}, {"CLUSTER", "MYID", "x"},
		{"CLUSTER", "NOSUCH"}, {"CLUSTER", "COUNTKEYSINSLOT"}, {"CLUSTER", "COUNTKEYSINSLOT", "x"},
		{"CLUSTER", "COUNTKEYSINSLOT", "-1"}, {"CLUSTER", "COUNTKEYSINSLOT", "16384"}, {"CLUSTER", "COUNTKEYSINSLOT", "1.5"},
		{"CLUSTER", "COUNTKEYSINSLOT", "99999999999999999999"}, {"CLUSTER", "GETKEYSINSLOT", "1"},
		{"CLUSTER", "GETKEYSINSLOT", "x", "1"}, {"CLUSTER", "GETKEYSINSLOT", "1", "x"}, {"CLUSTER", "GETKEYSINSLOT", "1", "-1"},
		{"CLUSTER", "GETKEYSINSLOT", "16384", "1"}, {"CLUSTER", "GETKEYSINSLOT", "-1", "1"},
		{"CLUSTER", "KEYSLOT", "{user}:1"}, {"CLUSTER", "KEYSLOT", "a}b{c}"}, {"CLUSTER", "KEYSLOT", ""},
	} {
		if o, t2 := both(args...); o != t2 {
			t.Errorf("%q: statehouse %q, redis-server %q", args, o, t2)
		}
	}

	// The same keys, counted and listed by slot.
	for i := range 300 {
		k := fmt.Sprintf("k%d", i)
		if i%3 == 0 {
			k = fmt.Sprintf("{tag%d}:%d", i%7, i)
		}
		both("SET", k, "v")
	}
	for _, key := range []string{"tag0", "tag3", "k1", "k2", "nothing-here"} {
		slot := strconv.Itoa(fsm.KeySlot([]byte(key)))
		if o, t2 := both("CLUSTER", "COUNTKEYSINSLOT", slot); o != t2 {
			t.Errorf("COUNTKEYSINSLOT %s: statehouse %q, redis-server %q", slot, o, t2)
		}
		o, t2 := both("CLUSTER", "GETKEYSINSLOT", slot, "1000")
		if o, t2 := sortedReply(t, o, false), sortedReply(t, t2, false); o != t2 {
			t.Errorf("GETKEYSINSLOT %s 1000: statehouse %q, redis-server %q", slot, o, t2)
		}
	}

	for _, sub := range []string{"SLOTS", "SHARDS"} {
		o, t2 := both("CLUSTER", sub)
		t.Logf("CLUSTER %s: %s", sub, respShape(t, o))
		if respShape(t, o) != respShape(t, t2) {
			t.Errorf("CLUSTER %s:\n statehouse   %s\n redis-server %s", sub, respShape(t, o), respShape(t, t2))
		}
	}
	// A lone master's line: id, address with its bus port, flags, no
	// master, ping sent and pong received 0, epoch, link, its slots.
	line := regexp.MustCompile(`^\$\d+\r\n[0-9a-f]{40} [0-9.]*:\d+@\d+ myself,master - 0 0 \d+ connected 0-16383\n\r\n$`)
	if o, t2 := both("CLUSTER", "NODES"); !line.MatchString(o) || !line.MatchString(t2) {
		t.Errorf("CLUSTER NODES: statehouse %q, redis-server %q", o, t2)
	}
	infoKeys := func(raw string) []string {
		var keys []string
		for _, l := range strings.Split(raw, "\r\n")[1:] {
			if k, _, ok := strings.Cut(l, ":"); ok {
				keys = append(keys, k)
			}
		}
		return keys
	}
	if o, t2 := both("CLUSTER", "INFO"); !slices.Equal(infoKeys(o), infoKeys(t2)) {
		t.Errorf("CLUSTER INFO fields: statehouse %q, redis-server %q", infoKeys(o), infoKeys(t2))
	}
	if o, t2 := both("INFO", "cluster"); o != t2 {
		t.Errorf("INFO cluster: statehouse %q, redis-server %q", o, t2)
	}
}

// respShape is a RESP reply's structure: arrays with their lengths,
// integers as ":", bulk strings kept when they are words (the field names
// and roles of SHARDS) and "$" otherwise (addresses, ids).
func respShape(t *testing.T, raw string) string {
	t.Helper()
	word := regexp.MustCompile(`^[a-z][a-z-]*$`)
	var shape func(r *bufio.Reader) string
	shape = func(r *bufio.Reader) string {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("bad reply %q: %v", raw, err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		switch line[0] {
		case '*':
			n, _ := strconv.Atoi(line[1:])
			parts := make([]string, n)
			for i := range parts {
				parts[i] = shape(r)
			}
			return "[" + strings.Join(parts, " ") + "]"
		case '$':
			n, _ := strconv.Atoi(line[1:])
			b := make([]byte, n+2)
			if _, err := io.ReadFull(r, b); err != nil {
				t.Fatalf("bad reply %q: %v", raw, err)
			}
			if s := string(b[:n]); word.MatchString(s) {
				return s
			}
			return "$"
		case ':':
			return ":"
		}
		return line
	}
	return shape(bufio.NewReader(strings.NewReader(raw)))
}

// go-redis's ClusterClient on a single node: it reads CLUSTER SLOTS and
// COMMAND, and sends everything to the node.
func TestClusterClientOnOneNode(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{n.addr}, ReadOnly: true,
		DialTimeout: testcluster.DialTimeout, ReadTimeout: testcluster.RequestTimeout, WriteTimeout: testcluster.RequestTimeout})
	defer c.Close()
	for i := range 50 {
		k := fmt.Sprintf("session:%d", i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if v, err := c.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("GET %s = %d, %v", k, v, err)
		}
	}
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil || len(slots) != 1 || len(slots[0].Nodes) != 1 || slots[0].Nodes[0].Addr != n.addr || slots[0].Nodes[0].ID != nodeName("n1") {
		t.Fatalf("CLUSTER SLOTS through go-redis: %+v, %v", slots, err)
	}
}

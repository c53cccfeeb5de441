package systest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// needRedisCLITLS skips the test unless redis-cli was built with TLS.
func needRedisCLITLS(t *testing.T) {
	t.Helper()
	out, _ := exec.Command(testcluster.NeedTool(t, "redis-cli"), "--help").CombinedOutput()
	if !strings.Contains(string(out), "--tls") {
		t.Skip("redis-cli was built without TLS (no --tls in redis-cli --help)")
	}
}

// tlsArgs are the flags that serve ca's certificate srv on every node's
// TLS port, client certificates from ca required.
func tlsArgs(ca *testcluster.CA, srv *testcluster.Cert) []string {
	return []string{"--tls-cert-file", srv.CertFile, "--tls-key-file", srv.KeyFile, "--tls-ca-cert-file", ca.CertFile}
}

// waitLogged waits until n has logged a line holding every one of parts.
func waitLogged(t *testing.T, n *testcluster.Node, parts ...string) {
	t.Helper()
	testcluster.Eventually(t, fmt.Sprintf("%s logs %q", n.ID, parts), func() error {
		for _, line := range strings.Split(n.Log(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return nil
			}
		}
		return errors.New("not logged")
	})
}

// A 3-node cluster with TLS ports: go-redis and redis-cli with client
// certificates write on any node and read on every node over TLS;
// clients without a certificate, with one from another CA, or that do
// not trust the node are refused, and the node says why in its log.
func TestTLSCluster(t *testing.T) {
	skipShort(t)
	ca := testcluster.NewCA(t, "statehouse test CA")
	other := testcluster.NewCA(t, "another CA")
	srv := ca.Issue("node", testcluster.CertOptions{})
	web := ca.Issue("web-1", testcluster.CertOptions{Client: true})
	c := testcluster.Start(t, 3, testcluster.Options{TLS: true, Args: tlsArgs(ca, srv)})
	ctx := context.Background()

	clients := make([]*redis.Client, len(c.Nodes))
	for i, n := range c.Nodes {
		o := testcluster.ClientOptions(n.TLSAddr())
		o.TLSConfig = testcluster.ClientTLS(ca, web)
		clients[i] = redis.NewClient(o)
		defer clients[i].Close()
	}
	for i, w := range clients {
		key := fmt.Sprintf("session:%d", i)
		if err := w.Set(ctx, key, c.Nodes[i].ID, time.Hour).Err(); err != nil {
			t.Fatalf("SET over TLS on %s: %v", c.Nodes[i].ID, err)
		}
		for j, r := range clients {
			if v, err := r.Get(ctx, key).Result(); err != nil || v != c.Nodes[i].ID {
				t.Fatalf("GET %s over TLS on %s: %q, %v", key, c.Nodes[j].ID, v, err)
			}
		}
	}
	// The plaintext port serves the same keys.
	if v, err := c.Leader().Client().Get(ctx, "session:0").Result(); err != nil || v != c.Nodes[0].ID {
		t.Fatalf("GET over plaintext: %q, %v", v, err)
	}

	needRedisCLITLS(t)
	cli := testcluster.RedisCLITLSArgs(ca, web)
	for i, n := range c.Nodes {
		if got := testcluster.RedisCLI(t, n.TLSAddr(), "", append(cli, "SET", "cli:"+n.ID, "over TLS")...); got != "OK\n" {
			t.Fatalf("redis-cli --tls SET on %s: %q", n.ID, got)
		}
		next := c.Nodes[(i+1)%len(c.Nodes)]
		if got := testcluster.RedisCLI(t, next.TLSAddr(), "", append(cli, "GET", "cli:"+n.ID)...); got != "over TLS\n" {
			t.Fatalf("redis-cli --tls GET on %s: %q", next.ID, got)
		}
	}

	n := c.Nodes[1]
	stranger := other.Issue("stranger", testcluster.CertOptions{Client: true})
	for _, tc := range []struct {
		name   string
		args   []string
		logged []string
	}{
		{"no client certificate", []string{"--tls", "--cacert", ca.CertFile},
			[]string{"TLS handshake failed", "client didn't provide a certificate"}},
		{"certificate of another CA", testcluster.RedisCLITLSArgs(ca, stranger),
			[]string{"TLS handshake failed", "certificate signed by unknown authority"}},
		{"client that trusts another CA", testcluster.RedisCLITLSArgs(other, web),
			[]string{"TLS handshake refused by the client", "remote error: tls: unknown certificate authority"}},
	} {
		r := testcluster.RunRedisCLI(t, n.TLSAddr(), "", append(tc.args, "PING")...)
		if strings.Contains(r.Stdout, "PONG") {
			t.Errorf("%s: served: %+v", tc.name, r)
		}
		waitLogged(t, n, tc.logged...)
	}
	if got := testcluster.RedisCLI(t, n.TLSAddr(), "", append(cli, "PING")...); got != "PONG\n" {
		t.Fatalf("after the refused clients: %q", got)
	}
}

// A node whose certificate has expired starts and says so; redis-cli
// refuses it, and the node logs the refusal.
func TestTLSExpiredCertificate(t *testing.T) {
	skipShort(t)
	needRedisCLITLS(t)
	ca := testcluster.NewCA(t, "statehouse test CA")
	expired := ca.Issue("node", testcluster.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	n := testcluster.StartSingle(t, testcluster.Options{TLS: true, Args: tlsArgs(ca, expired)})
	waitLogged(t, n, "level=WARN", "TLS certificate not valid now", "clients will refuse it")
	r := testcluster.RunRedisCLI(t, n.TLSAddr(), "", append(testcluster.RedisCLITLSArgs(ca, ca.Issue("web", testcluster.CertOptions{Client: true})), "PING")...)
	if strings.Contains(r.Stdout, "PONG") || !strings.Contains(r.Stdout+r.Stderr, "certificate verify failed") {
		t.Fatalf("redis-cli against an expired certificate: %+v", r)
	}
	waitLogged(t, n, "TLS handshake refused by the client", "remote error: tls: expired certificate")
}

// Mutual TLS between peers (--tls-cluster yes), each node with its own
// certificate naming its node id, beside TLS on the client port: the
// cluster forms, writes through any node (go-redis, redis-cli --tls,
// redis-py ssl=True) reach every node, and a new leader is elected over
// TLS when the leader is killed. No peer handshake fails on the way.
func TestTLSClusterPeers(t *testing.T) {
	skipShort(t)
	ca := testcluster.NewCA(t, "statehouse test CA")
	web := ca.Issue("web-1", testcluster.CertOptions{Client: true})
	certs := map[string]*testcluster.Cert{}
	for _, id := range []string{"n1", "n2", "n3"} {
		certs[id] = ca.Issue(id, testcluster.CertOptions{Peer: true})
	}
	c := testcluster.Start(t, 3, testcluster.Options{TLS: true, NodeArgs: func(id string) []string {
		return append(tlsArgs(ca, certs[id]), "--tls-cluster", "yes")
	}})
	ctx := context.Background()
	clients := make([]*redis.Client, len(c.Nodes))
	for i, n := range c.Nodes {
		o := testcluster.ClientOptions(n.TLSAddr())
		o.TLSConfig = testcluster.ClientTLS(ca, web)
		clients[i] = redis.NewClient(o)
		defer clients[i].Close()
	}
	for i, w := range clients {
		key := fmt.Sprintf("session:%d", i)
		if err := w.Set(ctx, key, "v", time.Hour).Err(); err != nil {
			t.Fatalf("SET on %s: %v", c.Nodes[i].ID, err)
		}
		for j, r := range clients {
			if v, err := r.Get(ctx, key).Result(); err != nil || v != "v" {
				t.Fatalf("GET %s on %s: %q, %v", key, c.Nodes[j].ID, v, err)
			}
		}
	}
	// A peer speaking the plain handshake, with the right secret even, is
	// refused: the peer port speaks TLS only.
	plain, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.Nodes[0].PeerPort))
	if err != nil {
		t.Fatal(err)
	}
	plain.Write([]byte("SHP2S" + strings.Repeat("x", 32)))
	plain.Close()
	waitLogged(t, c.Nodes[0], "peer connection refused: TLS handshake failed", "does not look like a TLS handshake")

	// redis-cli --tls, on every node.
	needRedisCLITLS(t)
	cli := testcluster.RedisCLITLSArgs(ca, web)
	for i, n := range c.Nodes {
		if got := testcluster.RedisCLI(t, n.TLSAddr(), "", append(cli, "SET", "cli:"+n.ID, "over TLS")...); got != "OK\n" {
			t.Fatalf("redis-cli --tls SET on %s: %q", n.ID, got)
		}
		next := c.Nodes[(i+1)%len(c.Nodes)]
		if got := testcluster.RedisCLI(t, next.TLSAddr(), "", append(cli, "GET", "cli:"+n.ID)...); got != "over TLS\n" {
			t.Fatalf("redis-cli --tls GET on %s: %q", next.ID, got)
		}
	}
	// redis-py with ssl=True and a client certificate, on every node.
	if py := pythonWithRedis(t); py != "" {
		for i, n := range c.Nodes {
			script := fmt.Sprintf(`import redis
r = redis.Redis(host="127.0.0.1", port=%d, ssl=True, ssl_ca_certs=%q, ssl_certfile=%q, ssl_keyfile=%q)
r.set("py:%d", "over TLS")
print(r.get("py:%d").decode())`, n.TLSPort, ca.CertFile, web.CertFile, web.KeyFile, i, i)
			out, err := exec.Command(py, "-c", script).CombinedOutput()
			if err != nil || string(out) != "over TLS\n" {
				t.Fatalf("redis-py ssl=True on %s: %v\n%s", n.ID, err, out)
			}
		}
	}

	leader := c.Leader()
	leader.Kill()
	next := c.WaitForNewLeader(leader)
	if err := next.Client().Set(ctx, "after", "failover", 0).Err(); err != nil {
		t.Fatalf("SET on the new leader: %v", err)
	}
	for _, n := range c.Nodes[1:] {
		if strings.Contains(n.Log(), "TLS handshake failed") {
			t.Errorf("%s refused a peer:\n%s", n.ID, n.Log())
		}
	}
}

// pythonWithRedis finds a Python that has redis-py (Debian's
// python3-redis is for /usr/bin/python3), or logs why it skips that part.
func pythonWithRedis(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import redis").Run() == nil {
			return py
		}
	}
	t.Log("redis-py not found (Debian's python3-redis): its TLS check is skipped")
	return ""
}

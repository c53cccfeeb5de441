package server

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// nonLoopbackIP is an address of this machine beyond loopback.
func nonLoopbackIP(t *testing.T) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	t.Skip("no address beyond loopback to connect from")
	return ""
}

// firstLine connects to addr, sends PING and returns the first reply line.
func firstLine(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("PING\r\n"))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}

// Protected mode: with no password, a client from beyond loopback gets
// Redis's -DENIED and is disconnected, a loopback client is served; with
// a password set, everyone may try to AUTH.
func TestProtectedMode(t *testing.T) {
	ip := nonLoopbackIP(t)
	n := startNode(t, func(c *nodeConfig) { c.srv.Addr = "0.0.0.0:0"; c.srv.ProtectedMode = true })
	_, port, _ := net.SplitHostPort(n.srv.Addr().String())
	if got := firstLine(t, net.JoinHostPort(ip, port)); !strings.HasPrefix(got, "-DENIED statehouse is running in protected mode") {
		t.Fatalf("a client from %s: %q", ip, got)
	}
	if got := firstLine(t, net.JoinHostPort("127.0.0.1", port)); got != "+PONG\r\n" {
		t.Fatalf("a loopback client: %q", got)
	}
	n.srv.password.Store(ptr("pw"))
	if got := firstLine(t, net.JoinHostPort(ip, port)); !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("a client from %s once a password is set: %q", ip, got)
	}
}

func ptr(s string) *string { return &s }

// Protected mode follows the default user, as in Redis: another user with
// a password does not turn it off while the default user needs none
// (anyone would be served with every permission).
func TestProtectedModeFollowsTheDefaultUser(t *testing.T) {
	ip := nonLoopbackIP(t)
	n := startNode(t, func(c *nodeConfig) { c.srv.Addr = "0.0.0.0:0"; c.srv.ProtectedMode = true })
	_, port, _ := net.SplitHostPort(n.srv.Addr().String())
	local := dialRaw(t, net.JoinHostPort("127.0.0.1", port))
	local.expect("+OK\r\n", "ACL", "SETUSER", "app", "on", ">app-pw", "~app:*", "+@read")
	remote := dialRaw(t, net.JoinHostPort(ip, port))
	if got := remote.do("FLUSHALL"); !strings.HasPrefix(got, "-DENIED") {
		t.Fatalf("a client from %s ran FLUSHALL unauthenticated: %q", ip, got)
	}
	local.expect("+OK\r\n", "ACL", "SETUSER", "default", "resetpass", ">admin-pw")
	remote = dialRaw(t, net.JoinHostPort(ip, port))
	if got := remote.do("PING"); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("once the default user has a password: %q", got)
	}
}

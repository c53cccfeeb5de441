package server

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The admin listener: a bare port listens on loopback only; health and
// metrics answer anyone; pprof is off unless asked for, then behind the
// bearer token when one is set, and never shows the command line (it
// carries passwords).
func TestAdminListenerDefaults(t *testing.T) {
	if got := AdminAddr(":8080"); got != "127.0.0.1:8080" {
		t.Errorf("AdminAddr(:8080) = %s", got)
	}
	if got := AdminAddr("8080"); got != "127.0.0.1:8080" {
		t.Errorf("AdminAddr(8080) = %s", got)
	}
	if got := AdminAddr("0.0.0.0:8080"); got != "0.0.0.0:8080" {
		t.Errorf("AdminAddr(0.0.0.0:8080) = %s", got)
	}
	n := startNode(t)
	plain, err := n.srv.ServeAdmin(AdminConfig{Addr: ":0"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if host := plain.Addr().String(); !strings.HasPrefix(host, "127.0.0.1:") {
		t.Errorf("a bare port listens on %s", host)
	}
	base := "http://" + plain.Addr().String()
	for _, path := range []string{"/healthz", "/metrics"} {
		if code, _ := httpGet(t, base+path, ""); code != 200 {
			t.Errorf("%s: %d", path, code)
		}
	}
	if code, _ := httpGet(t, base+"/debug/pprof/", ""); code != 404 {
		t.Errorf("pprof without --http-pprof: %d", code)
	}

	withPprof, err := n.srv.ServeAdmin(AdminConfig{Addr: "127.0.0.1:0", Pprof: true, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer withPprof.Close()
	base = "http://" + withPprof.Addr().String()
	if code, _ := httpGet(t, base+"/debug/pprof/", ""); code != 401 {
		t.Errorf("pprof without the token: %d", code)
	}
	if code, body := httpGet(t, base+"/debug/pprof/", "tok"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof with the token: %d", code)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/cmdline", "tok"); code != 404 {
		t.Errorf("pprof cmdline: %d, want 404", code)
	}
	if code, _ := httpGet(t, base+"/metrics", ""); code != 200 {
		t.Errorf("metrics without the token: %d", code)
	}
}

// With a certificate the admin listener serves HTTPS only: a client that
// trusts the CA reads /healthz, a plain HTTP client gets nothing.
func TestAdminListenerTLS(t *testing.T) {
	n := startNode(t)
	ca := testcluster.NewCA(t, "admin CA")
	cert := ca.Issue("node", testcluster.CertOptions{})
	a, err := n.srv.ServeAdmin(AdminConfig{Addr: "127.0.0.1:0", Certificate: func() (*tls.Certificate, error) { return &cert.TLS, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := hc.Get("https://" + a.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTPS /healthz: %s", resp.Status)
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + a.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served")
		}
	}
}

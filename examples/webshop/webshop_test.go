package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// mainEnv makes the test binary run main instead of the tests: the web
// servers are this binary, run again as `webshop web`.
const mainEnv = "WEBSHOP_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		os.Exit(0)
	}
	testcluster.Main(m)
}

// webServer is one `webshop web` process.
type webServer struct {
	name string
	addr string
	cmd  *exec.Cmd
	log  *strings.Builder
}

func startWeb(t *testing.T, name string, store []string, key []byte) *webServer {
	t.Helper()
	w := &webServer{name: name, addr: "127.0.0.1:" + strconv.Itoa(testcluster.FreePort(t)), log: &strings.Builder{}}
	w.cmd = exec.Command(os.Args[0], "web", "--addr", w.addr, "--name", name, "--store", strings.Join(store, ","))
	w.cmd.Env = append(os.Environ(), mainEnv+"=1", keyEnv+"="+hex.EncodeToString(key))
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.kill()
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", name, w.log.String())
		}
	})
	testcluster.Eventually(t, name+" serves", func() error {
		resp, err := http.Get("http://" + w.addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return w
}

func (w *webServer) kill() {
	if w.cmd.ProcessState == nil {
		w.cmd.Process.Signal(syscall.SIGKILL)
		w.cmd.Wait()
	}
}

// shopper is a browser: one cookie jar for every server on 127.0.0.1.
type shopper struct {
	t *testing.T
	c *http.Client
}

func newShopper(t *testing.T) *shopper {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &shopper{t: t, c: &http.Client{Jar: jar, Timeout: testcluster.RequestTimeout}}
}

// post sends a form and follows the redirect; it returns who served the
// POST and who served the page it redirected to.
func (s *shopper) post(base, path string, form url.Values) []string {
	s.t.Helper()
	resp, err := s.c.PostForm(base+path, form)
	if err != nil {
		s.t.Fatalf("POST %s%s: %v", base, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("POST %s%s: %s %s", base, path, resp.Status, body)
	}
	return []string{resp.Request.Response.Header.Get("X-Served-By"), resp.Header.Get("X-Served-By")}
}

// cart is GET /cart: the status and the body ("user alice\ntea 2\n").
func (s *shopper) cart(base string) (int, string, string) {
	s.t.Helper()
	resp, err := s.c.Get(base + "/cart")
	if err != nil {
		s.t.Fatalf("GET %s/cart: %v", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("X-Served-By")
}

// Sign in through web server 1, fill the cart through web server 2 and
// the proxy, kill web server 1 and the store's leader: through the proxy
// the cart is whole and the shopper still signed in; sign out, and the
// session is gone on every web server.
func TestWebShopSurvivesAWebServerAndTheLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node store and two web servers")
	}
	store := testcluster.Start(t, 3, testcluster.Options{})
	var addrs []string
	for _, n := range store.Nodes {
		addrs = append(addrs, n.Addr())
	}
	key := []byte("the web shop's cookie-signing key, 32+ bytes")
	web1 := startWeb(t, "web-1", addrs, key)
	web2 := startWeb(t, "web-2", addrs, key)
	proxySrv := httptest.NewServer(newProxy([]string{web1.addr, web2.addr}))
	t.Cleanup(proxySrv.Close)
	w1, w2, px := "http://"+web1.addr, "http://"+web2.addr, proxySrv.URL

	alice := newShopper(t)
	alice.post(w1, "/signin", url.Values{"user": {"alice"}})
	for _, sku := range []string{"tea", "mug", "tea"} {
		alice.post(w2, "/cart/add", url.Values{"sku": {sku}})
	}
	served := map[string]bool{}
	for range 2 {
		for _, by := range alice.post(px, "/cart/add", url.Values{"sku": {"pot"}}) {
			served[by] = true
		}
	}
	if !served["web-1"] || !served["web-2"] {
		t.Errorf("the proxy sent four requests to %v; want both web servers", served)
	}
	const want = "user alice\nmug 1\npot 2\ntea 2\n"
	if code, body, _ := alice.cart(px); code != http.StatusOK || body != want {
		t.Fatalf("cart before the kills: %d %q; want %q", code, body, want)
	}

	web1.kill()
	store.Leader().Kill()
	for range 4 { // round robin: every other request would have gone to web-1
		code, body, by := alice.cart(px)
		if code != http.StatusOK || body != want || by != "web-2" {
			t.Fatalf("cart after killing web-1 and the store's leader: %d %q from %s; want %q from web-2", code, body, by, want)
		}
	}
	alice.post(px, "/cart/add", url.Values{"sku": {"mug"}})
	if code, body, _ := alice.cart(w2); body != strings.Replace(want, "mug 1", "mug 2", 1) {
		t.Fatalf("cart after adding a mug with the new leader: %d %q", code, body)
	}

	// Sign out through the proxy; a copy of the old cookie is refused
	// everywhere.
	u, _ := url.Parse(px)
	old := alice.c.Jar.Cookies(u)
	alice.post(px, "/signout", nil)
	thief := newShopper(t)
	thief.c.Jar.SetCookies(u, old)
	for _, base := range []string{px, w2} {
		if code, body, _ := thief.cart(base); code != http.StatusUnauthorized {
			t.Errorf("the cookie of a signed-out session on %s: %d %q", base, code, body)
		}
	}
	if code, _, _ := alice.cart(px); code != http.StatusUnauthorized {
		t.Errorf("after sign-out: %d", code)
	}
}

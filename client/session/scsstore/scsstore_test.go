package scsstore_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/statehouse/statehouse/client"
	"github.com/statehouse/statehouse/client/session/scsstore"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestMain(m *testing.M) { testcluster.Main(m) }

// Two web servers, each with its own scs.SessionManager on the store,
// share sessions through a 3-node cluster; scs's RenewToken and Destroy
// work; sessions expire.
func TestSCSAcrossWebServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	cl := testcluster.Start(t, 3, testcluster.Options{})
	var addrs []string
	for _, n := range cl.Nodes {
		addrs = append(addrs, n.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.LeaderTimeout)
	defer cancel()
	c, err := client.New(ctx, addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	store := scsstore.New(c)

	web := func() *httptest.Server {
		sm := scs.New()
		sm.Store = store
		sm.Lifetime = 3 * time.Second
		sm.Cookie.Secure = false // httptest serves plain HTTP
		mux := http.NewServeMux()
		mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
			sm.Put(r.Context(), "user", r.URL.Query().Get("v"))
		})
		mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
			if err := sm.RenewToken(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
			}
		})
		mux.HandleFunc("POST /destroy", func(w http.ResponseWriter, r *http.Request) {
			if err := sm.Destroy(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
			}
		})
		mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, sm.GetString(r.Context(), "user"))
		})
		srv := httptest.NewServer(sm.LoadAndSave(mux))
		t.Cleanup(srv.Close)
		return srv
	}
	web1, web2 := web(), web()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	do := func(method, url string) string {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
		}
		return string(b)
	}
	do("POST", web1.URL+"/put?v=alice")
	if got := do("GET", web2.URL+"/get"); got != "alice" {
		t.Fatalf("through the other web server: %q", got)
	}
	do("POST", web2.URL+"/renew")
	if got := do("GET", web1.URL+"/get"); got != "alice" {
		t.Fatalf("after RenewToken: %q", got)
	}
	all, err := store.AllCtx(context.Background())
	if err != nil || len(all) != 1 {
		t.Fatalf("AllCtx: %d sessions, %v; want 1 (the renewed one)", len(all), err)
	}
	do("POST", web1.URL+"/destroy")
	if got := do("GET", web2.URL+"/get"); got != "" {
		t.Fatalf("after Destroy: %q", got)
	}
	do("POST", web1.URL+"/put?v=bob")
	end := time.Now().Add(3 * time.Second)
	if got := do("GET", web2.URL+"/get"); got != "bob" {
		t.Fatalf("new session: %q", got)
	}
	testcluster.SleepPast(end)
	if got := do("GET", web2.URL+"/get"); got != "" {
		t.Fatalf("past the session's lifetime: %q", got)
	}
	if keys, err := c.Do(context.Background(), "KEYS", scsstore.DefaultPrefix+"*").StringSlice(); err != nil || len(keys) != 0 {
		t.Fatalf("keys past the session's lifetime: %v, %v", keys, err)
	}
}

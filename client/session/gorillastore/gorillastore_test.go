package gorillastore_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/statehouse/statehouse/client"
	"github.com/statehouse/statehouse/client/session/gorillastore"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestMain(m *testing.M) { testcluster.Main(m) }

var (
	hashOld = []byte("an old hash key of 32 bytes......")
	hashNew = []byte("the new hash key of 32 bytes.....")
)

// web is a web server using gorilla/sessions on its own Store.
func web(t *testing.T, c *client.Client, keyPairs ...[]byte) *httptest.Server {
	store := gorillastore.New(c, keyPairs...)
	store.Options.Secure = false // httptest serves plain HTTP
	mux := http.NewServeMux()
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "s")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		s.Values["user"] = r.URL.Query().Get("v")
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("POST /delete", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "s")
		s.Options.MaxAge = -1
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "s")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, s.Values["user"])
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request with cookie (nil: none) and returns the body and the
// cookie the response set, if any.
func do(t *testing.T, method, url string, cookie *http.Cookie) (string, *http.Cookie) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
	var set *http.Cookie
	if cs := resp.Cookies(); len(cs) > 0 {
		set = cs[0]
	}
	return string(b), set
}

func TestGorillaSessions(t *testing.T) {
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

	web1, web2 := web(t, c, hashOld), web(t, c, hashOld)
	_, ck := do(t, "POST", web1.URL+"/put?v=alice", nil)
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v", ck)
	}
	if got, _ := do(t, "GET", web2.URL+"/get", ck); got != "alice" {
		t.Fatalf("through the other web server: %q", got)
	}
	tampered := *ck
	tampered.Value = ck.Value[:len(ck.Value)-2] + "xx"
	if got, _ := do(t, "GET", web2.URL+"/get", &tampered); got != "<nil>" {
		t.Errorf("a tampered cookie read %q", got)
	}
	// Rotation: the new key signs, the old one still verifies; dropped,
	// its cookies are refused.
	rotated := web(t, c, hashNew, nil, hashOld, nil)
	if got, _ := do(t, "GET", rotated.URL+"/get", ck); got != "alice" {
		t.Errorf("the old key's cookie after rotation: %q", got)
	}
	if got, _ := do(t, "GET", web(t, c, hashNew).URL+"/get", ck); got != "<nil>" {
		t.Errorf("a cookie of a key rotated out read %q", got)
	}
	// A well-signed cookie with an ID the store does not have: a new ID.
	forged, err := securecookie.EncodeMulti("s", "NOSUCHSESSION", securecookie.CodecsFromPairs(hashOld)...)
	if err != nil {
		t.Fatal(err)
	}
	_, fresh := do(t, "POST", web1.URL+"/put?v=mallory", &http.Cookie{Name: "s", Value: forged})
	var id string
	if err := securecookie.DecodeMulti("s", fresh.Value, &id, securecookie.CodecsFromPairs(hashOld)...); err != nil || id == "NOSUCHSESSION" {
		t.Errorf("an unknown ID was adopted: %q, %v", id, err)
	}
	// Delete (MaxAge < 0): gone on every web server.
	do(t, "POST", web2.URL+"/delete", ck)
	if got, _ := do(t, "GET", web1.URL+"/get", ck); got != "<nil>" {
		t.Errorf("a deleted session read %q", got)
	}
	var _ sessions.Store = gorillastore.New(c)
}

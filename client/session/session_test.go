package session

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/client"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestMain(m *testing.M) { testcluster.Main(m) }

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts statehouse processes")
	}
}

var (
	key1 = []byte("0123456789abcdef0123456789abcdef")
	key2 = []byte("fedcba9876543210fedcba9876543210")
)

// store starts n statehouse nodes (1: a single node) and returns a
// client of them.
func store(t *testing.T, n int) (*client.Client, []string) {
	t.Helper()
	var addrs []string
	if n == 1 {
		addrs = []string{testcluster.StartSingle(t, testcluster.Options{}).Addr()}
	} else {
		for _, nd := range testcluster.Start(t, n, testcluster.Options{}).Nodes {
			addrs = append(addrs, nd.Addr())
		}
	}
	return dial(t, addrs), addrs
}

func dial(t *testing.T, addrs []string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.LeaderTimeout)
	defer cancel()
	c, err := client.New(ctx, addrs, client.WithRetryTimeout(testcluster.LeaderTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// webServer runs the test application behind m on a loopback port.
func webServer(t *testing.T, m *Manager) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, _ := FromContext(r.Context()).GetString(r.URL.Query().Get("k"))
		io.WriteString(w, v)
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(FromContext(r.Context()).Keys(), ","))
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).PutString(r.URL.Query().Get("k"), r.URL.Query().Get("v"))
	})
	mux.HandleFunc("POST /delete", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Delete(r.URL.Query().Get("k"))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Renew()
		s.SetUser(r.URL.Query().Get("user"))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Destroy()
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, FromContext(r.Context()).User())
	})
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	return srv
}

func manager(t *testing.T, c *client.Client, o Options) *Manager {
	t.Helper()
	if o.Keys == nil {
		o.Keys = [][]byte{key1}
	}
	m, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// browser keeps one session cookie, as a browser does, and can be made
// to send any cookie, URL or form.
type browser struct {
	t      *testing.T
	cookie *http.Cookie
}

// do sends a request with the browser's cookie and keeps the cookie the
// response sets (or drops it, MaxAge < 0); it returns the body.
func (b *browser) do(srv *httptest.Server, method, path string) string {
	b.t.Helper()
	body, resp := b.send(srv, method, path, nil)
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			b.cookie = nil
		} else {
			b.cookie = c
		}
	}
	return body
}

func (b *browser) send(srv *httptest.Server, method, path string, form url.Values) (string, *http.Response) {
	b.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.cookie != nil {
		req.AddCookie(&http.Cookie{Name: b.cookie.Name, Value: b.cookie.Value})
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("%s %s: %s %s", method, path, resp.Status, body)
	}
	return string(body), resp
}

func TestSessionAcrossWebServers(t *testing.T) {
	skipShort(t)
	c, _ := store(t, 1)
	m := manager(t, c, Options{Cookie: Cookie{Domain: "shop.example"}})
	web1, web2 := webServer(t, m), webServer(t, m)
	b := &browser{t: t}

	// Nothing stored: no session, no cookie.
	if _, resp := b.send(web1, "GET", "/get?k=a", nil); len(resp.Cookies()) != 0 {
		t.Fatalf("a request that stores nothing set %v", resp.Cookies())
	}
	b.do(web1, "POST", "/put?k=a&v=1")
	ck := b.cookie
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "shop.example" || ck.Expires.IsZero() {
		t.Fatalf("session cookie %+v: want Secure, HttpOnly, SameSite=Lax, Path=/, Domain=shop.example, Expires", ck)
	}
	id, _, _ := strings.Cut(ck.Value, ".")
	if len(id) != 43 {
		t.Errorf("session ID %q: want 256 random bits, base64url", id)
	}
	b.do(web2, "POST", "/put?k=b&v=2")
	if b.cookie.Value != ck.Value {
		t.Errorf("a change to a stored session set a new cookie")
	}
	if got := b.do(web1, "GET", "/keys"); got != "a,b" {
		t.Errorf("keys = %q, want a,b", got)
	}
	b.do(web1, "POST", "/delete?k=a")
	if got := b.do(web2, "GET", "/keys"); got != "b" {
		t.Errorf("keys after delete = %q, want b", got)
	}
	// Typed values.
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: b.cookie.Name, Value: b.cookie.Value})
	s, err := m.load(req)
	if err != nil {
		t.Fatal(err)
	}
	type cart struct{ Items map[string]int }
	if err := Put(s, "cart", cart{Items: map[string]int{"sku-1": 2}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err = m.load(req)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := Get[cart](s, "cart")
	if err != nil || !ok || got.Items["sku-1"] != 2 {
		t.Errorf("Get[cart] = %+v, %v, %v", got, ok, err)
	}
	// Sign out: gone everywhere.
	b.do(web1, "POST", "/logout")
	if b.cookie != nil {
		t.Errorf("logout left the cookie %v", b.cookie)
	}
	b.cookie = ck
	if got := b.do(web2, "GET", "/keys"); got != "" {
		t.Errorf("keys after logout through the other server = %q", got)
	}
}

// The session ID comes from the cookie alone: one given in the URL or a
// form is ignored.
func TestSessionIDNeverFromURLOrForm(t *testing.T) {
	skipShort(t)
	c, _ := store(t, 1)
	m := manager(t, c, Options{})
	web := webServer(t, m)
	victim := &browser{t: t}
	victim.do(web, "POST", "/put?k=a&v=secret")
	v := url.QueryEscape(victim.cookie.Value)
	attacker := &browser{t: t}
	for _, path := range []string{"/get?k=a&session=" + v, "/get?k=a&" + m.o.Cookie.Name + "=" + v} {
		if got := attacker.do(web, "GET", path); got != "" {
			t.Errorf("GET %s read %q through an ID in the URL", path, got)
		}
	}
	attacker.send(web, "POST", "/put?k=a&v=x", url.Values{"session": {victim.cookie.Value}, m.o.Cookie.Name: {victim.cookie.Value}})
	if got := victim.do(web, "GET", "/get?k=a"); got != "secret" {
		t.Errorf("a form carrying the victim's ID changed the victim's session: %q", got)
	}
}

func TestCookiesRefused(t *testing.T) {
	skipShort(t)
	c, _ := store(t, 1)
	m := manager(t, c, Options{})
	web := webServer(t, m)
	b := &browser{t: t}
	b.do(web, "POST", "/put?k=a&v=1")
	good := b.cookie.Value
	id, sig, _ := strings.Cut(good, ".")
	flip := func(s string, i int) string {
		r := []byte(s)
		if r[i] == 'A' {
			r[i] = 'B'
		} else {
			r[i] = 'A'
		}
		return string(r)
	}
	other, _ := newSigner([][]byte{key2})
	for name, value := range map[string]string{
		"tampered ID":           flip(id, 5) + "." + sig,
		"tampered signature":    id + "." + flip(sig, 7),
		"no signature":          id,
		"signed by another key": other.sign(m.o.Cookie.Name, id),
		"signed for another cookie": func() string {
			s, _ := newSigner([][]byte{key1})
			return s.sign("other", id)
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := m.signer.verify(m.o.Cookie.Name, value); ok {
				t.Errorf("the signature of a %s verifies", name)
			}
			x := &browser{t: t, cookie: &http.Cookie{Name: m.o.Cookie.Name, Value: value}}
			if got := x.do(web, "GET", "/get?k=a"); got != "" {
				t.Errorf("read %q with a %s", got, name)
			}
		})
	}

	// Rotation: a new key signs, the old one still verifies, until it is
	// dropped.
	rotated := manager(t, c, Options{Keys: [][]byte{key2, key1}})
	web2 := webServer(t, rotated)
	if got := b.do(web2, "GET", "/get?k=a"); got != "1" {
		t.Errorf("a cookie signed by the old key, after rotation: %q", got)
	}
	b2 := &browser{t: t}
	b2.do(web2, "POST", "/put?k=a&v=2")
	if _, ok := other.verify(m.o.Cookie.Name, b2.cookie.Value); !ok {
		t.Errorf("a new cookie is not signed with the new key")
	}
	dropped := webServer(t, manager(t, c, Options{Keys: [][]byte{key2}}))
	if got := b.do(dropped, "GET", "/get?k=a"); got != "" {
		t.Errorf("a cookie signed by a key rotated out was accepted: %q", got)
	}
	if got := b2.do(dropped, "GET", "/get?k=a"); got != "2" {
		t.Errorf("a cookie signed by the current key: %q", got)
	}
}

// The idle timeout slides with use; the lifetime does not.
func TestIdleAndAbsoluteTimeouts(t *testing.T) {
	skipShort(t)
	c, _ := store(t, 1)
	const idle, life = 2 * time.Second, 4 * time.Second
	m := manager(t, c, Options{IdleTimeout: idle, Lifetime: life})
	web := webServer(t, m)

	unused := &browser{t: t}
	unused.do(web, "POST", "/put?k=a&v=1")
	idleEnd := time.Now().Add(idle)

	used := &browser{t: t}
	used.do(web, "POST", "/put?k=a&v=1")
	lifeEnd := time.Now().Add(life)
	// Used every second: alive past the idle timeout.
	for range 3 {
		time.Sleep(idle / 2)
		if got := used.do(web, "GET", "/get?k=a"); got != "1" {
			t.Fatalf("a session used every %v was ended: %q", idle/2, got)
		}
	}
	testcluster.SleepPast(idleEnd)
	if got := unused.do(web, "GET", "/get?k=a"); got != "" {
		t.Errorf("a session idle past its idle timeout: %q", got)
	}
	testcluster.SleepPast(lifeEnd)
	if got := used.do(web, "GET", "/get?k=a"); got != "" {
		t.Errorf("a session past its lifetime: %q", got)
	}
}

// Session fixation: an attacker plants its own session cookie in the
// victim's browser before the victim signs in. Sign-in renews the ID, so
// the attacker's cookie is worth nothing after. And an ID the store does
// not have is never adopted, even with a valid signature.
func TestFixationFails(t *testing.T) {
	skipShort(t)
	c, _ := store(t, 1)
	m := manager(t, c, Options{})
	web := webServer(t, m)
	attacker := &browser{t: t}
	attacker.do(web, "POST", "/put?k=lang&v=en")
	victim := &browser{t: t, cookie: attacker.cookie} // planted
	victim.do(web, "POST", "/login?user=alice")
	if victim.cookie.Value == attacker.cookie.Value {
		t.Fatalf("sign-in kept the planted session ID")
	}
	if got := victim.do(web, "GET", "/whoami"); got != "alice" {
		t.Errorf("victim after sign-in: %q", got)
	}
	if got := victim.do(web, "GET", "/get?k=lang"); got != "en" {
		t.Errorf("sign-in lost the session's data: %q", got)
	}
	if got := attacker.do(web, "GET", "/whoami"); got != "" {
		t.Errorf("the planted cookie is signed in as %q", got)
	}

	// A well-signed cookie naming an ID the store does not have.
	forged := &browser{t: t, cookie: &http.Cookie{Name: m.o.Cookie.Name, Value: m.signer.sign(m.o.Cookie.Name, newID())}}
	planted := forged.cookie.Value
	forged.do(web, "POST", "/put?k=a&v=1")
	if forged.cookie.Value == planted {
		t.Errorf("an unknown session ID was adopted")
	}
}

// A user's sessions are listed, pruned of those that ended, and revoked
// together.
func TestUserSessions(t *testing.T) {
	skipShort(t)
	c, _ := store(t, 1)
	ctx := context.Background()
	m := manager(t, c, Options{})
	short := manager(t, c, Options{IdleTimeout: time.Second})
	web, webShort := webServer(t, m), webServer(t, short)
	phone, laptop, kiosk, shared := &browser{t: t}, &browser{t: t}, &browser{t: t}, &browser{t: t}
	phone.do(web, "POST", "/login?user=alice")
	laptop.do(web, "POST", "/login?user=alice")
	shared.do(web, "POST", "/login?user=alice")
	kiosk.do(webShort, "POST", "/login?user=alice")
	kioskEnd := time.Now().Add(time.Second)
	bob := &browser{t: t}
	bob.do(web, "POST", "/login?user=bob")
	if list, err := m.Sessions(ctx, "alice"); err != nil || len(list) != 4 {
		t.Fatalf("alice's sessions: %v, %v; want 4", list, err)
	}
	shared.do(web, "POST", "/logout")
	testcluster.SleepPast(kioskEnd)
	list, err := m.Sessions(ctx, "alice")
	if err != nil || len(list) != 2 {
		t.Fatalf("alice's sessions after a logout and an expiry: %v, %v; want 2", list, err)
	}
	members, err := c.Do(ctx, "SMEMBERS", m.userKey("alice")).StringSlice()
	if err != nil || len(members) != 2 {
		t.Errorf("alice's index after listing: %v, %v; want the 2 live sessions", members, err)
	}
	n, err := m.RevokeUser(ctx, "alice")
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser: %d, %v; want 2", n, err)
	}
	for _, b := range []*browser{phone, laptop} {
		if got := b.do(web, "GET", "/whoami"); got != "" {
			t.Errorf("a revoked session is still signed in as %q", got)
		}
	}
	if got := bob.do(web, "GET", "/whoami"); got != "bob" {
		t.Errorf("revoking alice signed bob out: %q", got)
	}
	if n, err := m.RevokeUser(ctx, "alice"); err != nil || n != 0 {
		t.Errorf("RevokeUser of a user with no sessions: %d, %v", n, err)
	}
}

// Concurrent requests of one session, through two web servers on a
// 3-node cluster, each storing its own key: none loses another's.
func TestConcurrentRequestsKeepEachOthersWrites(t *testing.T) {
	skipShort(t)
	_, addrs := store(t, 3)
	web := []*httptest.Server{
		webServer(t, manager(t, dial(t, addrs), Options{})),
		webServer(t, manager(t, dial(t, addrs), Options{})),
	}
	b := &browser{t: t}
	b.do(web[0], "POST", "/put?k=start&v=1")
	const goroutines, each = 16, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				srv := web[(g+i)%2]
				req, _ := http.NewRequest("POST", srv.URL+fmt.Sprintf("/put?k=k%02d-%d&v=x", g, i), nil)
				req.AddCookie(&http.Cookie{Name: b.cookie.Name, Value: b.cookie.Value})
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
					errs <- fmt.Errorf("put %d-%d: %s, cookies %v", g, i, resp.Status, resp.Cookies())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := strings.Split(b.do(web[1], "GET", "/keys"), ",")
	if len(got) != goroutines*each+1 {
		t.Fatalf("%d keys after %d concurrent puts: %v", len(got)-1, goroutines*each, got)
	}
}

// A request still running when its session is destroyed (signed out in
// another tab, revoked) does not bring it back when it saves, renewing
// or not.
func TestSaveAfterDestroyBringsNothingBack(t *testing.T) {
	skipShort(t)
	c, _ := store(t, 1)
	m := manager(t, c, Options{})
	web := webServer(t, m)
	ctx := context.Background()
	for _, renew := range []bool{false, true} {
		b := &browser{t: t}
		b.do(web, "POST", "/login?user=alice")
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: b.cookie.Name, Value: b.cookie.Value})
		inFlight, err := m.load(req)
		if err != nil || inFlight.User() != "alice" {
			t.Fatalf("load: %v, user %q", err, inFlight.User())
		}
		id := inFlight.ID()
		b.do(web, "POST", "/logout")
		inFlight.PutString("cart", "sku-1")
		if renew {
			inFlight.Renew()
		}
		if err := inFlight.Save(ctx); err != nil {
			t.Fatal(err)
		}
		if ck := inFlight.cookie(); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("renew %v: the response to a request whose session ended sets %v; want the cookie dropped", renew, ck)
		}
		n, err := c.Do(ctx, "EXISTS", m.key(id)).Int()
		if err != nil || n != 0 {
			t.Errorf("renew %v: the destroyed session's key exists: %d, %v", renew, n, err)
		}
		keys, err := c.Do(ctx, "KEYS", m.o.Prefix+"*").StringSlice()
		if err != nil || len(keys) != 0 {
			t.Errorf("renew %v: keys left: %v, %v", renew, keys, err)
		}
	}
}

// With WaitReplicas each save waits until the replicas of a redis-server
// have it: a session saved through the master is on the replica at once.
func TestWaitReplicas(t *testing.T) {
	skipShort(t)
	master := testcluster.StartRedis(t)
	replica := testcluster.StartRedisReplica(t, master)
	c := dial(t, []string{master})
	m := manager(t, c, Options{WaitReplicas: 1, WaitTimeout: testcluster.RequestTimeout})
	web := webServer(t, m)
	b := &browser{t: t}
	b.do(web, "POST", "/put?k=a&v=1")
	id, _ := m.signer.verify(m.o.Cookie.Name, b.cookie.Value)
	direct := redis.NewClient(testcluster.ClientOptions(replica))
	defer direct.Close()
	if got, err := direct.HGet(context.Background(), m.key(id), dataPrefix+"a").Result(); err != nil || got != "1" {
		t.Fatalf("the replica right after the save: %q, %v", got, err)
	}
	// Two replicas asked for, one there: the save is refused once
	// WaitTimeout passes.
	two := webServer(t, manager(t, c, Options{WaitReplicas: 2, WaitTimeout: 100 * time.Millisecond}))
	req, _ := http.NewRequest("POST", two.URL+"/put?k=a&v=2", nil)
	resp, err := two.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a save only one of two replicas acknowledged: %s; want 503", resp.Status)
	}
}

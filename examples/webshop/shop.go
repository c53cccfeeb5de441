package main

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/statehouse/statehouse/client/session"
)

// The catalogue: what the shop sells.
var catalogue = []struct{ SKU, Name string }{
	{"tea", "a tin of tea"},
	{"mug", "a mug"},
	{"pot", "a teapot"},
}

// cartPrefix: each line of the cart is its own session value
// ("cart:tea" = "2"), so two tabs adding different items at once keep
// both (the session saves each value as its own field).
const cartPrefix = "cart:"

// shop is one web server of the shop. It keeps nothing between requests:
// everything is in the session, in statehouse.
type shop struct {
	name string // shown on every page and in X-Served-By
	mux  *http.ServeMux
}

func newShop(name string, m *session.Manager) http.Handler {
	s := &shop{name: name, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("GET /cart", s.cart)
	s.mux.HandleFunc("POST /signin", s.signIn)
	s.mux.HandleFunc("POST /cart/add", s.add)
	s.mux.HandleFunc("POST /signout", s.signOut)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	withSession := m.Handler(s.mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", s.name)
		if r.URL.Path == "/healthz" {
			s.mux.ServeHTTP(w, r) // no session for health checks
			return
		}
		withSession.ServeHTTP(w, r)
	})
}

type line struct {
	SKU string
	Qty int
}

// lines is the cart in the session, sorted by SKU.
func lines(s *session.Session) []line {
	var out []line
	for _, k := range s.Keys() {
		if sku, ok := strings.CutPrefix(k, cartPrefix); ok {
			v, _ := s.GetString(k)
			n, _ := strconv.Atoi(v)
			out = append(out, line{sku, n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<title>statehouse web shop</title>
<p>served by <b>{{.Server}}</b> (any web server serves any request: the session is in statehouse)</p>
{{if .User}}
<form method="post" action="/signout">signed in as <b>{{.User}}</b> <button>sign out</button></form>
<h2>cart</h2>
<ul>{{range .Cart}}<li>{{.SKU}} × {{.Qty}}</li>{{else}}<li>empty</li>{{end}}</ul>
<h2>shop</h2>
{{range .Catalogue}}<form method="post" action="/cart/add"><input type="hidden" name="sku" value="{{.SKU}}">{{.Name}} <button>add</button></form>{{end}}
{{else}}
<form method="post" action="/signin"><input name="user" placeholder="your name" required> <button>sign in</button></form>
{{end}}
`))

func (s *shop) home(w http.ResponseWriter, r *http.Request) {
	sess := session.FromContext(r.Context())
	page.Execute(w, map[string]any{"Server": s.name, "User": sess.User(), "Cart": lines(sess), "Catalogue": catalogue})
}

// cart answers in plain text: "user alice", then one "sku qty" a line.
func (s *shop) cart(w http.ResponseWriter, r *http.Request) {
	sess := session.FromContext(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if sess.User() == "" {
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	fmt.Fprintf(w, "user %s\n", sess.User())
	for _, l := range lines(sess) {
		fmt.Fprintf(w, "%s %d\n", l.SKU, l.Qty)
	}
}

func (s *shop) signIn(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.FormValue("user"))
	if user == "" || len(user) > 64 {
		http.Error(w, "a name, please", http.StatusBadRequest)
		return
	}
	sess := session.FromContext(r.Context())
	sess.Renew() // a new ID at sign-in: one planted before is worth nothing
	sess.SetUser(user)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *shop) add(w http.ResponseWriter, r *http.Request) {
	sess := session.FromContext(r.Context())
	if sess.User() == "" {
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	sku := r.FormValue("sku")
	known := false
	for _, c := range catalogue {
		known = known || c.SKU == sku
	}
	if !known {
		http.Error(w, "no such item", http.StatusBadRequest)
		return
	}
	v, _ := sess.GetString(cartPrefix + sku)
	n, _ := strconv.Atoi(v)
	sess.PutString(cartPrefix+sku, strconv.Itoa(n+1))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *shop) signOut(w http.ResponseWriter, r *http.Request) {
	session.FromContext(r.Context()).Destroy()
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

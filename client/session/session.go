package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Session is the session of one request. Its methods are safe for the
// request's goroutines; changes are saved when the response starts (or
// by Save), once.
type Session struct {
	m *Manager

	mu          sync.Mutex
	id          string // "" until it is stored
	stored      bool   // the store has it (loaded, or saved by this request)
	created     time.Time
	user        string
	prevUser    string
	data        map[string]string  // as loaded, with this request's changes
	changes     map[string]*string // key → new value, nil: deleted
	touch       bool               // the expiry must slide even if nothing changed
	renew       bool
	userChanged bool
	destroy     bool
	newCookie   bool // the response must set the cookie
	gone        bool // it ended while the request ran
}

type ctxKey struct{}

// FromContext returns the session of the request whose context ctx is,
// or nil outside Manager.Handler.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// ID is the session's ID, "" for a session not stored yet. Treat it as
// a secret: it is the bearer's credential.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// GetString returns the value stored under key.
func (s *Session) GetString(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	return v, ok
}

// PutString stores v under key.
func (s *Session) PutString(key, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = v
	s.changes[key] = &v
}

// Delete removes key.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.data[key]; !ok {
		return
	}
	delete(s.data, key)
	s.changes[key] = nil
}

// Keys lists the keys the session holds, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Get decodes the JSON value stored under key into a T; ok is false if
// there is none.
func Get[T any](s *Session, key string) (v T, ok bool, err error) {
	raw, ok := s.GetString(key)
	if !ok {
		return v, false, nil
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, true, fmt.Errorf("session: value of %q: %w", key, err)
	}
	return v, true, nil
}

// Put stores v under key, as JSON.
func Put[T any](s *Session, key string, v T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: value of %q: %w", key, err)
	}
	s.PutString(key, string(b))
	return nil
}

// User is the user the session belongs to, "" if none.
func (s *Session) User() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// SetUser ties the session to user uid ("" unties it), for
// Manager.Sessions and RevokeUser. Call Renew with it at sign-in.
func (s *Session) SetUser(uid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if uid == s.user {
		return
	}
	if !s.userChanged {
		s.prevUser = s.user
	}
	s.user, s.userChanged = uid, true
}

// Renew gives the session a new ID, with the same data, when it is saved:
// call it when privileges change (sign-in, sign-out) so an ID someone
// planted or saw before is worth nothing after (session fixation).
func (s *Session) Renew() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renew = true
}

// Destroy ends the session: it is deleted when the response starts and
// the browser is told to drop the cookie.
func (s *Session) Destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.destroy = true
}

// Save writes the session's changes so far now, rather than when the
// response starts (the middleware then saves only what changed after).
// Its error is what the middleware would pass to Options.ErrorHandler.
func (s *Session) Save(ctx context.Context) error { return s.m.save(ctx, s) }

// cookie is the Set-Cookie the response needs, nil if none.
func (s *Session) cookie() *http.Cookie {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.m.o.Cookie
	c := &http.Cookie{Name: o.Name, Path: o.Path, Domain: o.Domain, SameSite: o.SameSite,
		Secure: !o.Insecure, HttpOnly: !o.ScriptReadable}
	switch {
	case s.destroy || s.gone:
		c.MaxAge = -1
		return c
	case s.newCookie:
		c.Value = s.m.signer.sign(o.Name, s.id)
		c.Expires = s.created.Add(s.m.o.Lifetime)
		s.newCookie = false
		return c
	}
	return nil
}

// Handler loads the session of each request (FromContext), runs next,
// and saves the session just before the response starts, so its cookie
// goes with the headers. A request whose session cannot be loaded or
// saved is answered by Options.ErrorHandler.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.load(r)
		if err != nil {
			m.o.ErrorHandler(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		sw := &saveWriter{ResponseWriter: w, m: m, r: r, s: s}
		next.ServeHTTP(sw, r)
		sw.commit()
	})
}

// saveWriter saves the session before the first byte of the response.
type saveWriter struct {
	http.ResponseWriter
	m      *Manager
	r      *http.Request
	s      *Session
	done   bool
	failed bool // the save failed: the error handler answered instead
}

// commit saves the session and sets its cookie, once; false if the save
// failed and the error handler has answered.
func (w *saveWriter) commit() bool {
	if w.done {
		return !w.failed
	}
	w.done = true
	if err := w.m.save(w.r.Context(), w.s); err != nil {
		w.failed = true
		w.m.o.ErrorHandler(w.ResponseWriter, w.r, err)
		return false
	}
	if c := w.s.cookie(); c != nil {
		http.SetCookie(w.ResponseWriter, c)
		w.Header().Add("Vary", "Cookie")
		w.Header().Set("Cache-Control", `no-cache="Set-Cookie"`)
	}
	return true
}

func (w *saveWriter) WriteHeader(code int) {
	if w.commit() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *saveWriter) Write(b []byte) (int, error) {
	if !w.commit() {
		return 0, errSaveFailed
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *saveWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *saveWriter) Flush() {
	if w.commit() {
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
}

var errSaveFailed = errors.New("session: not saved; the error handler answered the request")

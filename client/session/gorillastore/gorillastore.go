package gorillastore

import (
	"context"
	"encoding/base32"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/client"
)

// Store is a sessions.Store on statehouse.
type Store struct {
	c *client.Client
	// Codecs sign (and encrypt) the cookie and encode the values.
	Codecs []securecookie.Codec
	// Options are each new session's cookie options; MaxAge is also its
	// TTL in statehouse.
	Options *sessions.Options
	// Prefix of the keys (default "gorilla:session:").
	Prefix string
}

var _ sessions.Store = (*Store)(nil)

// New returns a Store keeping sessions through c. keyPairs are
// securecookie's: hash key, block key (nil for none), then older pairs
// for rotation. Sessions last 30 days, with Secure, HttpOnly and
// SameSite=Lax cookies on Path "/".
func New(c *client.Client, keyPairs ...[]byte) *Store {
	s := &Store{
		c:      c,
		Codecs: securecookie.CodecsFromPairs(keyPairs...),
		Options: &sessions.Options{Path: "/", MaxAge: 86400 * 30, Secure: true, HttpOnly: true,
			SameSite: http.SameSiteLaxMode},
		Prefix: "gorilla:session:",
	}
	s.MaxAge(s.Options.MaxAge)
	return s
}

// MaxAge sets the lifetime of new sessions, in seconds, in the cookie,
// the codecs and the store.
func (s *Store) MaxAge(age int) {
	s.Options.MaxAge = age
	for _, codec := range s.Codecs {
		if sc, ok := codec.(*securecookie.SecureCookie); ok {
			sc.MaxAge(age)
		}
	}
}

// Get returns the session called name of the request, made once per
// request (sessions.GetRegistry).
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New returns the session the request's cookie names, if the cookie
// verifies and statehouse has it, else a new session. An error is the
// store's (unreachable): the session is then new.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	session := sessions.NewSession(s, name)
	opts := *s.Options
	session.Options = &opts
	session.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return session, nil
	}
	var id string
	if securecookie.DecodeMulti(name, c.Value, &id, s.Codecs...) != nil {
		return session, nil // tampered, expired or signed by a key no longer listed
	}
	var data string
	err = s.c.Read(r.Context(), func(ctx context.Context, rdb *redis.Client) error {
		var err error
		data, err = rdb.Get(ctx, s.Prefix+id).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return session, nil // ended: never adopt the ID
	}
	if err != nil {
		return session, err
	}
	if securecookie.DecodeMulti(name, data, &session.Values, s.Codecs...) != nil {
		return session, nil
	}
	session.ID, session.IsNew = id, false
	return session, nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Save stores the session's values and sets its cookie, or deletes it
// if its MaxAge is <= 0.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, session *sessions.Session) error {
	ctx := r.Context()
	if session.Options.MaxAge <= 0 {
		if session.ID != "" {
			if err := s.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
				return rdb.Del(ctx, s.Prefix+session.ID).Err()
			}); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(session.Name(), "", session.Options))
		return nil
	}
	if session.ID == "" {
		session.ID = idEncoding.EncodeToString(securecookie.GenerateRandomKey(32))
	}
	data, err := securecookie.EncodeMulti(session.Name(), session.Values, s.Codecs...)
	if err != nil {
		return err
	}
	ttl := time.Duration(session.Options.MaxAge) * time.Second
	if err := s.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
		return rdb.Set(ctx, s.Prefix+session.ID, data, ttl).Err()
	}); err != nil {
		return err
	}
	cookie, err := securecookie.EncodeMulti(session.Name(), session.ID, s.Codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(session.Name(), cookie, session.Options))
	return nil
}

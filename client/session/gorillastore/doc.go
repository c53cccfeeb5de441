// Package gorillastore keeps the sessions of gorilla/sessions in
// statehouse: a sessions.Store, through client.Client (writes to the
// leader, reads over the followers, retries only of what certainly did
// not apply).
//
//	store := gorillastore.New(c, hashKey, blockKey) // securecookie key pairs: the first pair signs, all verify
//	s, _ := store.Get(r, "session")
//	s.Values["user"] = "alice"
//	s.Save(r, w)
//
// As gorilla's FilesystemStore: the cookie carries the session ID, signed
// (and encrypted with a block key) by securecookie; the values, encoded
// by the same codecs, live in statehouse under Prefix+ID with a TTL of
// Options.MaxAge. An ID the store does not have is never adopted: the
// session starts anew and gets a new ID at Save. A session saved with
// MaxAge <= 0 is deleted. gorilla saves a whole session at once, so
// concurrent requests of one session that both change it keep the last
// one's values (client/session keeps each value apart).
package gorillastore

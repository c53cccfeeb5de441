// Package scsstore keeps the sessions of alexedwards/scs in statehouse:
// a Store for scs.SessionManager.Store, through client.Client (writes to
// the leader, reads over the followers, retries only of what certainly
// did not apply).
//
//	sm := scs.New()
//	sm.Store = scsstore.New(c)
//
// Each session is one string key, Prefix+token, holding scs's encoded
// data, set with an absolute expiry (PXAT) at every commit. scs makes the
// tokens (crypto/rand) and the cookie; scs saves a whole session at
// once, so concurrent requests of one session that both change it keep
// the last one's data (client/session keeps each value apart).
package scsstore

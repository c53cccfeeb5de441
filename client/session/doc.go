// Package session keeps the sessions of a net/http application in
// statehouse, so that any web server can take any request and a web
// server or a store node that dies logs nobody out.
//
//	m, err := session.New(c, session.Options{Keys: [][]byte{key}})
//	http.ListenAndServe(":8080", m.Handler(mux))
//
//	func addToCart(w http.ResponseWriter, r *http.Request) {
//		s := session.FromContext(r.Context())
//		cart, _, _ := session.Get[Cart](s, "cart")
//		cart.Add(r.FormValue("sku"))
//		session.Put(s, "cart", cart)
//	}
//
// The rules it keeps:
//
//   - A session is one hash in statehouse (Prefix+ID): each value its own
//     field, and a save writes only the fields the request changed, in
//     one MULTI/EXEC, so concurrent requests of one session that change
//     different values keep each other's changes (the last write of one
//     value wins). The same transaction checks that the session still
//     exists: changes to a session that ended while the request ran
//     (destroyed, revoked, expired) are removed at once rather than bring
//     it back, and load ignores a hash without its creation time: a
//     revocation wins.
//   - A request that changes nothing writes nothing, except to slide the
//     idle timeout once a tenth of it has passed. The key's TTL is the
//     idle timeout, cut at the session's absolute lifetime.
//   - IDs are 256 bits from crypto/rand, in a cookie signed with
//     HMAC-SHA256 (over the cookie's name and the ID), checked in constant
//     time against every key of Options.Keys; the first key signs. The ID
//     is read from the cookie alone, never from a URL or a form, and an ID
//     the store does not have is never adopted: a new session gets a new
//     ID.
//   - Renew (call it at sign-in and sign-out) moves the data to a new ID
//     (RENAME) in the save's transaction, so a planted or leaked ID is
//     worth nothing after (session fixation).
//   - SetUser puts the session's ID in its user's index (the set
//     Prefix+"user:"+uid, which lives as long as the user's longest
//     session); Sessions lists them and prunes the ended ones, RevokeUser
//     ends them all.
//   - Values are strings; Get and Put store any type as JSON.
package session

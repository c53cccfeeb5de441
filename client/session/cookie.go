package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// idBytes is the size of a session ID: 256 bits from crypto/rand.
const idBytes = 32

// minKeyBytes is the shortest signing key accepted.
const minKeyBytes = 32

var b64 = base64.RawURLEncoding

// newID returns a fresh opaque session ID.
func newID() string {
	b := make([]byte, idBytes)
	if _, err := rand.Read(b); err != nil {
		panic("session: crypto/rand failed: " + err.Error()) // never returns an error on supported platforms
	}
	return b64.EncodeToString(b)
}

// validID reports whether id has the form newID gives.
func validID(id string) bool {
	if len(id) != b64.EncodedLen(idBytes) {
		return false
	}
	_, err := b64.DecodeString(id)
	return err == nil
}

// signer signs cookie values with the first key and accepts those signed
// with any of its keys.
type signer struct {
	keys [][]byte
}

func newSigner(keys [][]byte) (signer, error) {
	if len(keys) == 0 {
		return signer{}, errors.New("session: no signing key (Options.Keys)")
	}
	s := signer{}
	for i, k := range keys {
		if len(k) < minKeyBytes {
			return signer{}, fmt.Errorf("session: key %d is %d bytes; want at least %d", i, len(k), minKeyBytes)
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	return s, nil
}

// mac is the signature of a session ID in the cookie called name: the
// name is signed too, so a value cannot move from one cookie to another.
func mac(key []byte, name, id string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("statehouse-session\x00"))
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return h.Sum(nil)
}

// sign returns the cookie value for id: the ID, a dot, its signature.
func (s signer) sign(name, id string) string {
	return id + "." + b64.EncodeToString(mac(s.keys[0], name, id))
}

// verify returns the session ID a cookie value carries, if one of the
// keys signed it. Signatures are compared in constant time (hmac.Equal).
func (s signer) verify(name, value string) (string, bool) {
	id, sig, ok := strings.Cut(value, ".")
	if !ok || !validID(id) {
		return "", false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return "", false
	}
	valid := false
	for _, k := range s.keys {
		if hmac.Equal(got, mac(k, name, id)) {
			valid = true
		}
	}
	return id, valid
}

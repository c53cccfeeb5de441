package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/client"
)

// Options configure a Manager. Keys is required; the rest have defaults.
type Options struct {
	// Keys sign the session cookie: Keys[0] signs, every key verifies.
	// To rotate, put the new key first and keep the old one after it
	// until every cookie it signed has expired (Lifetime), then drop it:
	// a cookie signed by a key no longer listed is refused. Each at least
	// 32 bytes, random.
	Keys [][]byte
	// Cookie: name (default "session"), Path (default "/"), Domain
	// (default: none, the host alone), SameSite (default Lax).
	// Secure and HttpOnly are on unless turned off.
	Cookie Cookie
	// IdleTimeout ends a session not used for this long (default 30
	// minutes): every use slides it.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after it began, however much it
	// is used (default 24 hours).
	Lifetime time.Duration
	// Prefix of the keys in statehouse (default "session:"): a session
	// is the hash Prefix+ID, a user's index the set Prefix+"user:"+uid.
	Prefix string
	// WaitReplicas, if above 0, makes each save WAIT until that many
	// replicas have it (at most WaitTimeout; 0: no limit), on the
	// connection of its EXEC: for Redis with replicas. statehouse needs
	// none: a write is acknowledged once a quorum of nodes has it.
	WaitReplicas int
	WaitTimeout  time.Duration
	// ErrorHandler answers a request whose session could not be loaded
	// or saved (the store unreachable, a save whose outcome is
	// uncertain). Default: 503 Service Unavailable.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Cookie is the session cookie's attributes.
type Cookie struct {
	Name     string
	Path     string
	Domain   string
	SameSite http.SameSite
	// Insecure leaves out the Secure attribute: for plain-HTTP
	// development on loopback only.
	Insecure bool
	// ScriptReadable leaves out HttpOnly, letting page scripts read the
	// cookie. Leave it false.
	ScriptReadable bool
}

// Manager loads and saves the sessions of HTTP requests in statehouse.
// It is safe for concurrent use.
type Manager struct {
	c      *client.Client
	o      Options
	signer signer
}

// New returns a Manager keeping sessions through c.
func New(c *client.Client, o Options) (*Manager, error) {
	s, err := newSigner(o.Keys)
	if err != nil {
		return nil, err
	}
	if o.Cookie.Name == "" {
		o.Cookie.Name = "session"
	}
	if o.Cookie.Path == "" {
		o.Cookie.Path = "/"
	}
	if o.Cookie.SameSite == 0 {
		o.Cookie.SameSite = http.SameSiteLaxMode
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 24 * time.Hour
	}
	if o.Prefix == "" {
		o.Prefix = "session:"
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		}
	}
	return &Manager{c: c, o: o, signer: s}, nil
}

// Keys of a session's hash: the caller's values under "d:", the
// session's own fields under "m:".
const (
	dataPrefix   = "d:"
	fieldCreated = "m:created" // unix milliseconds, the web server's clock
	fieldUser    = "m:user"
)

func (m *Manager) key(id string) string      { return m.o.Prefix + id }
func (m *Manager) userKey(uid string) string { return m.o.Prefix + "user:" + uid }

// ttl is how long a session begun at created may live from now: the
// idle timeout, cut at its lifetime. Zero or less: it is over.
func (m *Manager) ttl(now, created time.Time) time.Duration {
	return min(m.o.IdleTimeout, created.Add(m.o.Lifetime).Sub(now))
}

// touchAfter is how much of the idle timeout may pass before a request
// that changed nothing slides the session's expiry (a write): a tenth,
// so most reads write nothing.
func (m *Manager) touchAfter() time.Duration { return m.o.IdleTimeout / 10 }

// load reads the session the request's cookie names, or returns a new
// empty one. The ID is taken from the cookie alone, never from the URL
// or a form, and only if the cookie's signature verifies and the store
// has that session: an unknown ID is never adopted.
func (m *Manager) load(r *http.Request) (*Session, error) {
	s := &Session{m: m, data: map[string]string{}, changes: map[string]*string{}}
	ck, err := r.Cookie(m.o.Cookie.Name)
	if err != nil {
		return s, nil
	}
	id, ok := m.signer.verify(m.o.Cookie.Name, ck.Value)
	if !ok {
		return s, nil
	}
	var all map[string]string
	var pttl time.Duration
	err = m.c.Read(r.Context(), func(ctx context.Context, rdb *redis.Client) error {
		cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.HGetAll(ctx, m.key(id))
			p.PTTL(ctx, m.key(id))
			return nil
		})
		if err != nil {
			return err
		}
		all = cmds[0].(*redis.MapStringStringCmd).Val()
		pttl = cmds[1].(*redis.DurationCmd).Val()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("session: load: %w", err)
	}
	ms, err := strconv.ParseInt(all[fieldCreated], 10, 64)
	if len(all) == 0 || err != nil {
		return s, nil // expired, destroyed, revoked, or never there
	}
	now := time.Now()
	created := time.UnixMilli(ms)
	want := m.ttl(now, created)
	if want <= 0 {
		return s, nil // past its lifetime (the store's TTL is about to end it)
	}
	s.id, s.stored, s.created, s.user = id, true, created, all[fieldUser]
	for f, v := range all {
		if k, ok := strings.CutPrefix(f, dataPrefix); ok {
			s.data[k] = v
		}
	}
	s.touch = pttl >= 0 && want-pttl > m.touchAfter()
	return s, nil
}

// maxConflicts bounds how often RevokeUser reads the index again because
// a session of the user was saved in between.
const maxConflicts = 100

// save writes what the request changed, in one MULTI/EXEC: each changed
// value as its own hash field (so concurrent requests of one session
// keep each other's changes), the expiry, the user index; or deletes a
// destroyed session.
// It writes nothing if nothing changed and the expiry need not slide.
// Changes to a session that ended while the request ran are dropped:
// a revocation wins.
func (m *Manager) save(ctx context.Context, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroy {
		if !s.stored {
			return nil
		}
		err := m.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
			_, err := m.tx(ctx, rdb, func(p redis.Pipeliner) {
				p.Del(ctx, m.key(s.id))
				if s.user != "" {
					p.SRem(ctx, m.userKey(s.user), s.id)
				}
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("session: destroy: %w", err)
		}
		s.stored = false
		return nil
	}
	if len(s.changes) == 0 && !s.touch && !s.renew && !s.userChanged {
		return nil
	}
	now := time.Now()
	fresh := !s.stored
	if fresh {
		s.id, s.created = newID(), now
	}
	ttl := m.ttl(now, s.created)
	if ttl <= 0 {
		return nil // its lifetime ended during the request
	}
	oldID := ""
	if s.renew && !fresh {
		oldID, s.id = s.id, newID()
	}
	// One MULTI/EXEC: whether the session is still there (EXISTS, of the
	// old ID when renewing), then the changes. Were it gone, the changes
	// made a hash without m:created, which load ignores: it is deleted
	// at once (and has a TTL in any case).
	var existed *redis.IntCmd
	err := m.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
		_, err := m.tx(ctx, rdb, func(p redis.Pipeliner) {
			if !fresh {
				src := s.id
				if oldID != "" {
					src = oldID
				}
				existed = p.Exists(ctx, m.key(src))
			}
			m.queueSave(ctx, p, s, oldID, fresh, ttl)
		})
		if existed != nil && existed.Err() == nil && existed.Val() == 0 {
			return nil // the RENAME's error, if renewing, is expected
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("session: save: %w", err)
	}
	if existed != nil && existed.Val() == 0 {
		err := m.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
			_, err := m.tx(ctx, rdb, func(p redis.Pipeliner) {
				p.Del(ctx, m.key(s.id))
				if s.user != "" {
					p.SRem(ctx, m.userKey(s.user), s.id)
				}
			})
			return err
		})
		s.id, s.stored, s.gone = "", false, true
		if err != nil {
			return fmt.Errorf("session: save: removing what was saved to an ended session: %w", err)
		}
		return nil
	}
	s.stored, s.changes, s.touch, s.renew, s.userChanged = true, map[string]*string{}, false, false, false
	s.newCookie = s.newCookie || fresh || oldID != ""
	return nil
}

// tx runs the commands queue queues as one MULTI/EXEC, then, with
// Options.WaitReplicas, WAITs on the same connection until that many
// replicas have it.
func (m *Manager) tx(ctx context.Context, rdb *redis.Client, queue func(p redis.Pipeliner)) ([]redis.Cmder, error) {
	fn := func(p redis.Pipeliner) error { queue(p); return nil }
	if m.o.WaitReplicas <= 0 {
		return rdb.TxPipelined(ctx, fn)
	}
	conn := rdb.Conn()
	defer conn.Close()
	cmds, err := conn.TxPipelined(ctx, fn)
	if err != nil {
		return cmds, err
	}
	n, err := conn.Wait(ctx, m.o.WaitReplicas, m.o.WaitTimeout).Result()
	if err == nil && n < int64(m.o.WaitReplicas) {
		err = fmt.Errorf("session: WAIT: %d of %d replicas acknowledged the save within %v", n, m.o.WaitReplicas, m.o.WaitTimeout)
	}
	return cmds, err
}

// queueSave queues the writes of one save, in one MULTI/EXEC.
func (m *Manager) queueSave(ctx context.Context, p redis.Pipeliner, s *Session, oldID string, fresh bool, ttl time.Duration) {
	key := m.key(s.id)
	if oldID != "" {
		p.Rename(ctx, m.key(oldID), key) // same data and expiry, new ID
	}
	var set []any
	if fresh {
		set = append(set, fieldCreated, strconv.FormatInt(s.created.UnixMilli(), 10))
	}
	if s.userChanged || fresh {
		set = append(set, fieldUser, s.user)
	}
	var del []string
	keys := make([]string, 0, len(s.changes))
	for k := range s.changes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := s.changes[k]; v != nil {
			set = append(set, dataPrefix+k, *v)
		} else {
			del = append(del, dataPrefix+k)
		}
	}
	if len(set) > 0 {
		p.HSet(ctx, key, set...)
	}
	if len(del) > 0 {
		p.HDel(ctx, key, del...)
	}
	p.PExpire(ctx, key, ttl)
	// The user's index: this session's ID in the set of the user's
	// sessions, which lives as long as its longest session.
	if s.userChanged && s.prevUser != "" && s.prevUser != s.user {
		p.SRem(ctx, m.userKey(s.prevUser), s.id, oldID)
	}
	if s.user != "" {
		uk := m.userKey(s.user)
		if oldID != "" {
			p.SRem(ctx, uk, oldID)
		}
		p.SAdd(ctx, uk, s.id)
		ms := strconv.FormatInt(ttl.Milliseconds(), 10)
		p.Do(ctx, "PEXPIRE", uk, ms, "NX")
		p.Do(ctx, "PEXPIRE", uk, ms, "GT")
	}
}

// Info describes one session of a user.
type Info struct {
	ID      string
	Created time.Time
	TTL     time.Duration // until it expires unless used
}

// Sessions lists the live sessions of user uid, and drops from the
// user's index the IDs whose sessions have ended.
func (m *Manager) Sessions(ctx context.Context, uid string) ([]Info, error) {
	var ids []string
	var created []*redis.StringCmd
	var ttls []*redis.DurationCmd
	err := m.c.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
		var err error
		ids, err = rdb.SMembers(ctx, m.userKey(uid)).Result()
		if err != nil || len(ids) == 0 {
			return err
		}
		created, ttls = make([]*redis.StringCmd, len(ids)), make([]*redis.DurationCmd, len(ids))
		_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				created[i] = p.HGet(ctx, m.key(id), fieldCreated)
				ttls[i] = p.PTTL(ctx, m.key(id))
			}
			return nil
		})
		if errors.Is(err, redis.Nil) {
			err = nil // some have ended
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("session: list %s: %w", uid, err)
	}
	var live []Info
	var ended []any
	for i, id := range ids {
		ms, err := strconv.ParseInt(created[i].Val(), 10, 64)
		if err != nil || ttls[i].Val() < 0 {
			ended = append(ended, id)
			continue
		}
		live = append(live, Info{ID: id, Created: time.UnixMilli(ms), TTL: ttls[i].Val()})
	}
	if len(ended) > 0 {
		if err := m.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
			return rdb.SRem(ctx, m.userKey(uid), ended...).Err()
		}); err != nil {
			return nil, fmt.Errorf("session: prune %s: %w", uid, err)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Created.Before(live[j].Created) })
	return live, nil
}

// Revoke ends one session now.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	return m.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
		return rdb.Del(ctx, m.key(id)).Err()
	})
}

// RevokeUser ends every session of user uid (sign out everywhere) and
// returns how many there were. A session saved for uid meanwhile makes
// it read the index again (WATCH), so none is missed.
func (m *Manager) RevokeUser(ctx context.Context, uid string) (int, error) {
	uk := m.userKey(uid)
	var n int
	var err error
	for range maxConflicts {
		err = m.c.Watch(ctx, func(tx *redis.Tx) error {
			ids, err := tx.SMembers(ctx, uk).Result()
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				n = 0
				return nil
			}
			keys := make([]string, len(ids))
			for i, id := range ids {
				keys[i] = m.key(id)
			}
			var del *redis.IntCmd
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				del = p.Del(ctx, keys...)
				p.Del(ctx, uk)
				return nil
			})
			if err == nil {
				n = int(del.Val())
			}
			return err
		}, uk)
		if !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("session: revoke %s: %w", uid, err)
	}
	return n, nil
}

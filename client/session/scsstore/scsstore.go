package scsstore

import (
	"context"
	"errors"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/client"
)

// Store is an scs.Store, scs.CtxStore and scs.IterableCtxStore.
type Store struct {
	c      *client.Client
	prefix string
}

// DefaultPrefix is the prefix of the keys New's Store uses.
const DefaultPrefix = "scs:session:"

// New returns a Store keeping sessions through c under DefaultPrefix.
func New(c *client.Client) *Store { return NewWithPrefix(c, DefaultPrefix) }

// NewWithPrefix returns a Store keeping sessions under prefix.
func NewWithPrefix(c *client.Client, prefix string) *Store {
	return &Store{c: c, prefix: prefix}
}

var (
	_ scs.CtxStore         = (*Store)(nil)
	_ scs.IterableCtxStore = (*Store)(nil)
)

// FindCtx returns the data of the session token, found false if there
// is none (expired, deleted, never there).
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var b []byte
	err := s.c.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
		var err error
		b, err = rdb.Get(ctx, s.prefix+token).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// CommitCtx stores the session's data until expiry.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if !expiry.After(time.Now()) {
		return s.DeleteCtx(ctx, token)
	}
	return s.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
		return rdb.Do(ctx, "SET", s.prefix+token, b, "PXAT", expiry.UnixMilli()).Err()
	})
}

// DeleteCtx removes the session token.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	return s.c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
		return rdb.Del(ctx, s.prefix+token).Err()
	})
}

// AllCtx returns every live session, by token. It walks the keyspace
// (SCAN): an operator's tool, not a request's.
func (s *Store) AllCtx(ctx context.Context) (map[string][]byte, error) {
	all := map[string][]byte{}
	err := s.c.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
		clear(all)
		iter := rdb.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil || len(keys) == 0 {
			return err
		}
		vals, err := rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return err
		}
		for i, v := range vals {
			if str, ok := v.(string); ok { // nil: expired since the SCAN
				all[keys[i][len(s.prefix):]] = []byte(str)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// Find is FindCtx with a background context.
func (s *Store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit is CommitCtx with a background context.
func (s *Store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx with a background context.
func (s *Store) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

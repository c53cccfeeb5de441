package server

// Databases: SELECT and the per-database keyspace.

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestKeyspaceSelect(t *testing.T) {
	n, c := ksNode(t)
	k := checker{t}
	db := func(i int) *redis.Client { return n.client(func(o *redis.Options) { o.DB = i }) }
	db0, db1, db2, db15 := c, db(1), db(2), db(15)

	// One connection switching databases with SELECT.
	conn := c.Conn()
	defer conn.Close()
	for i := range 16 {
		k.eq(conn.Select(kctx, i), "OK")
		k.null(conn.Get(kctx, "k"))
		k.eq(conn.Set(kctx, "k", "db"+strconv.Itoa(i), 0), "OK")
		k.eq(conn.HSet(kctx, "h"+strconv.Itoa(i), "f", "v"), 1)
	}
	for i := 15; i >= 0; i-- {
		k.eq(conn.Select(kctx, i), "OK")
		k.eq(conn.Get(kctx, "k"), "db"+strconv.Itoa(i))
		k.eq(conn.DBSize(kctx), 2)
		k.eq(conn.Keys(kctx, "h*"), []string{"h" + strconv.Itoa(i)})
	}
	k.err(conn.Select(kctx, 16), errDBRange)
	k.err(conn.Select(kctx, -1), errDBRange)
	k.err(do(conn, "select", "abc"), errNotInt)
	k.eq(conn.Get(kctx, "k"), "db0") // still in db 0 after the errors
	k.eq(db15.Get(kctx, "k"), "db15")

	// Keys of the same name are separate in every way: TTLs, types, DEL.
	k.eq(db1.Expire(kctx, "k", time.Hour), true)
	k.eq(db0.TTL(kctx, "k"), time.Duration(-1))
	k.eq(db2.Del(kctx, "k"), 1)
	k.eq(db0.Exists(kctx, "k"), 1)
	k.eq(db2.SAdd(kctx, "k", "m"), 1)
	k.eq(db2.Type(kctx, "k"), "set")
	k.eq(db0.Type(kctx, "k"), "string")

	// COPY ... DB n: to another database, same name allowed, TTL kept,
	// REPLACE needed over a live key.
	sent := time.Now()
	k.eq(db0.Set(kctx, "src", "v", time.Hour), "OK")
	k.eq(db0.Copy(kctx, "src", "src", 3, false), 1)
	k.eq(db(3).Get(kctx, "src"), "v")
	k.ttl(db(3).TTL(kctx, "src"), time.Hour, sent)
	k.eq(db0.Copy(kctx, "src", "src", 3, false), 0)
	k.eq(db0.Set(kctx, "src", "v2", 0), "OK")
	k.eq(db0.Copy(kctx, "src", "src", 3, true), 1)
	k.eq(db(3).Get(kctx, "src"), "v2")
	k.eq(db(3).TTL(kctx, "src"), time.Duration(-1))
	k.eq(db0.Copy(kctx, "h0", "copied", 4, false), 1)
	k.eq(db(4).HGetAll(kctx, "copied"), map[string]string{"f": "v"})
	k.eq(db0.Exists(kctx, "copied"), 0)
	k.eq(db1.Copy(kctx, "k", "k", 2, false), 0) // db 2's k (a set) is live
	k.eq(db1.Copy(kctx, "k", "k", 2, true), 1)
	k.eq(db2.Type(kctx, "k"), "string")
	k.eq(db2.Get(kctx, "k"), "db1")
	k.err(db0.Copy(kctx, "src", "src", 0, false), "ERR source and destination objects are the same")
	k.err(db0.Copy(kctx, "src", "x", 16, false), errDBRange)
	k.eq(db0.Copy(kctx, "nosuch", "x", 5, false), 0)

	// MULTI/EXEC writes to the database it was issued in.
	_, err := db1.TxPipelined(kctx, func(p redis.Pipeliner) error {
		p.Set(kctx, "tx", "in1", 0)
		return nil
	})
	k.eq(db1.Get(kctx, "tx"), "in1")
	k.null(db0.Get(kctx, "tx"))
	if err != nil {
		t.Errorf("TxPipelined in db 1: %v", err)
	}

	// FLUSHDB empties one database, FLUSHALL all of them.
	k.eq(db1.FlushDB(kctx), "OK")
	k.eq(db1.DBSize(kctx), 0)
	k.eq(db0.DBSize(kctx), 3)
	k.eq(db2.DBSize(kctx), 2)
	k.eq(conn.Select(kctx, 2), "OK")
	k.eq(conn.FlushDB(kctx), "OK")
	k.eq(conn.DBSize(kctx), 0)
	k.eq(db0.DBSize(kctx), 3)
	k.eq(db15.DBSize(kctx), 2)
	k.eq(db15.FlushAll(kctx), "OK")
	for i := range 16 {
		k.eq(db(i).DBSize(kctx), 0)
	}
}

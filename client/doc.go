// Package client is statehouse's Go client for web tiers: a cluster-aware
// client built on go-redis v9 (this package) and, in client/session, HTTP
// session middleware on top of it. It sees statehouse only over the
// network, as any user does.
//
//	c, err := client.New(ctx, []string{"10.0.0.1:6379", "10.0.0.2:6379"})
//	err = c.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
//		return rdb.HSet(ctx, "cart:42", "sku-1", 2).Err()
//	})
//	err = c.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
//		cart, err = rdb.HGetAll(ctx, "cart:42").Result()
//		return err
//	})
//
// The rules it keeps:
//
//   - Writes go to the leader; with no leader known, to any node (a
//     follower forwards a write to the leader, or answers CLUSTERDOWN).
//   - Reads go to the followers in turn (WithReadFrom), and are
//     linearizable on every node. WithStaleReads opts in to local reads
//     (READONLY connections) within a bound.
//   - The topology (CLUSTER SLOTS: the leader, then the followers that
//     answer) is read from any node, the seeds included, at New, every
//     refresh interval, and at once after a MOVED, CLUSTERDOWN, TRYAGAIN
//     or a connection error. A node that did not answer is passed over for
//     a second. A node that is not a cluster (a plain redis-server) is
//     asked ROLE instead, and then every command goes to its master: a
//     Redis replica's reads may be stale.
//   - A command is sent again only when it certainly did not apply
//     (Outcome Retry: CLUSTERDOWN, TRYAGAIN, LOADING, MOVED, READONLY, a
//     connection never made), and never once a write in the same attempt
//     may have applied. An -UNCERTAIN reply, or a connection that broke
//     after a write was sent, is returned as ErrUncertain (errors.Is), to
//     be decided by the caller, who knows whether the write is idempotent.
//     A read whose connection broke is sent to another node. What a
//     Write's or Read's fn sends is seen through the context it is given;
//     what a Watch's fn sends, through its Tx (fn has no such context).
//   - Classify is the one place that reads statehouse's errors; jepsen-lite
//     and the system tests classify their histories with it.
//   - The go-redis client of each node is at hand (Leader, Node) for any
//     other command; those calls are not retried.
package client

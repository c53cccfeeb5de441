// Package importer copies a running Redis into a running statehouse
// cluster over the network: SCAN, DUMP and PTTL on the source, RESTORE
// ... ABSTTL REPLACE on statehouse, pipelined batch by batch. It talks to
// both sides with go-redis only and knows statehouse only as a Redis
// server (fsm's DumpDigest, a pure function, compares values).
//
//   - Resumable: after each batch the SCAN cursor goes to a state file; a
//     run given that file goes on from there. Copying is idempotent
//     (RESTORE REPLACE), so keys copied twice are harmless.
//   - TTLs: each key keeps its remaining time, as an absolute deadline
//     (now + PTTL, by this machine's clock) so that the time a batch
//     spends in flight is not added to it. A key that expires on the way
//     is not created.
//   - --follow: before the scan starts, the source's keyspace
//     notifications are switched on (CONFIG SET notify-keyspace-events,
//     restored at the end) and subscribed to; every key an event names is
//     copied again (or deleted, if it is gone) until the context ends. A
//     subscription that reconnects may have missed events: that starts a
//     rescan, which closes the gap.
//   - Verification: the number of keys on both sides, and a digest of
//     the values of a sample of keys (or of every key) compared side by
//     side: fsm.DumpDigest of each side's DUMP, which is the same for the
//     same value whatever the encoding.
package importer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/fsm"
)

// Config is one import.
type Config struct {
	From      string // redis://[user:pass@]host:port[/db] or rediss://
	To        *redis.Options
	StateFile string // "" = not resumable
	Follow    bool
	Batch     int // keys per SCAN and per pipeline (default 500)
	Verify    int // keys whose values are compared at the end; 0 = none, -1 = every key
	Progress  io.Writer
	// Caught is called (if set) after each round of --follow: the scan
	// is done and every key that events named before the round began has
	// been copied since.
	Caught func()
}

// Result is what an import did.
type Result struct {
	Copied, Deleted int64
	Failed          map[string]int64 // error text -> keys
	SourceKeys      int64            // DBSIZE of the source at the end
	TargetKeys      int64            // DBSIZE of statehouse's database at the end
	Verified        int64            // keys whose values were compared
	Mismatched      []string         // keys whose values differ (up to 20)
	SourceDigest    string           // of the verified keys' values, order-free
	TargetDigest    string
	// Libraries is how many function libraries were copied (FUNCTION
	// DUMP / RESTORE); LibrariesNote says why none were, when the source
	// could not list them (before Redis 7, or a user not allowed to).
	Libraries     int
	LibrariesNote string
}

// state is the state file: where the scan stands.
type state struct {
	Source string `json:"source"` // host:port/db, no credentials
	Cursor uint64 `json:"cursor"`
	Done   bool   `json:"done"`
	Copied int64  `json:"copied"`
}

type importer struct {
	cfg      Config
	src, dst *redis.Client
	srcName  string
	res      Result
	mu       sync.Mutex
	pending  map[string]bool // keys events named, to copy again
	wake     chan struct{}
	rescan   chan struct{}
	start    time.Time
	total    int64
	lastShow time.Time
}

// Run imports until the scan is done (and, with Follow, until ctx ends).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	opt, err := redis.ParseURL(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	to := *cfg.To
	to.DB = opt.DB // the same numbered database
	im := &importer{
		cfg: cfg, src: redis.NewClient(opt), dst: redis.NewClient(&to),
		srcName: fmt.Sprintf("%s/%d", opt.Addr, opt.DB),
		pending: map[string]bool{}, wake: make(chan struct{}, 1), rescan: make(chan struct{}, 1),
		start: time.Now(),
	}
	im.res.Failed = map[string]int64{}
	defer im.src.Close()
	defer im.dst.Close()
	if err := im.src.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("source %s: %w", im.srcName, err)
	}
	if err := im.dst.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("statehouse %s: %w", to.Addr, err)
	}
	st, err := im.loadState()
	if err != nil {
		return nil, err
	}
	var follow *redis.PubSub
	if cfg.Follow {
		restore, ps, err := im.subscribe(ctx, opt.DB)
		if err != nil {
			return nil, err
		}
		defer restore()
		defer ps.Close()
		follow = ps
		if st.Done { // what changed since is unknown: scan again
			st = &state{Source: im.srcName}
		}
	}
	if err := im.copyFunctions(ctx); err != nil {
		return &im.res, err
	}
	if !st.Done {
		if err := im.scan(ctx, st); err != nil {
			return &im.res, err
		}
	}
	if follow != nil {
		if err := im.follow(ctx, follow); err != nil && !errors.Is(err, context.Canceled) {
			return &im.res, err
		}
		ctx = context.WithoutCancel(ctx)
		im.drain(ctx) // what the last events named
	}
	fmt.Fprintln(cfg.Progress)
	return &im.res, im.verify(ctx)
}

func (im *importer) loadState() (*state, error) {
	st := &state{Source: im.srcName}
	if im.cfg.StateFile == "" {
		return st, nil
	}
	b, err := os.ReadFile(im.cfg.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	var old state
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("state file %s: %w", im.cfg.StateFile, err)
	}
	if old.Source != im.srcName {
		return nil, fmt.Errorf("state file %s is of an import from %s, not %s", im.cfg.StateFile, old.Source, im.srcName)
	}
	im.res.Copied = old.Copied
	fmt.Fprintf(im.cfg.Progress, "resuming the import from %s at cursor %d (%d keys copied before)\n", old.Source, old.Cursor, old.Copied)
	return &old, nil
}

func (im *importer) saveState(st *state) error {
	if im.cfg.StateFile == "" {
		return nil
	}
	st.Copied = im.res.Copied
	b, _ := json.Marshal(st)
	tmp := im.cfg.StateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, im.cfg.StateFile)
}

// scan copies every key from st.Cursor on, saving the cursor after each
// batch.
func (im *importer) scan(ctx context.Context, st *state) error {
	im.total, _ = im.src.DBSize(ctx).Result()
	for {
		keys, next, err := im.src.Scan(ctx, st.Cursor, "*", int64(im.cfg.Batch)).Result()
		if err != nil {
			return fmt.Errorf("SCAN on the source: %w", err)
		}
		if err := im.copyKeys(ctx, keys, false); err != nil {
			return err
		}
		st.Cursor, st.Done = next, next == 0
		if err := im.saveState(st); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
		im.progress(false)
		if st.Done {
			im.progress(true)
			return nil
		}
	}
}

// copyFunctions copies the source's function libraries, so FCALL answers
// the same after the move: FUNCTION DUMP on the source, FUNCTION RESTORE
// ... REPLACE on statehouse (again harmless, as for keys). It runs once,
// before the keys: a library loaded on the source while --follow runs is
// not followed. A library statehouse refuses is counted as failed.
func (im *importer) copyFunctions(ctx context.Context) error {
	libs, err := im.src.Do(ctx, "FUNCTION", "LIST").Slice()
	var re redis.Error
	if errors.As(err, &re) {
		im.res.LibrariesNote = "not copied: the source answered FUNCTION LIST with " + re.Error()
		return nil
	}
	if err != nil {
		return fmt.Errorf("FUNCTION LIST on the source: %w", err)
	}
	if len(libs) == 0 {
		return nil
	}
	payload, err := im.src.Do(ctx, "FUNCTION", "DUMP").Text()
	if err != nil {
		return fmt.Errorf("FUNCTION DUMP on the source: %w", err)
	}
	if err := im.dst.Do(ctx, "FUNCTION", "RESTORE", payload, "REPLACE").Err(); err != nil {
		if !errors.As(err, &re) {
			return fmt.Errorf("FUNCTION RESTORE on statehouse: %w", err)
		}
		im.res.Failed["function libraries: "+err.Error()] += int64(len(libs))
		return nil
	}
	im.res.Libraries = len(libs)
	return nil
}

// copyKeys copies keys: DUMP and PTTL of them all in one MULTI on the
// source (one consistent instant), then one pipeline of RESTOREs. A key
// gone from the source is deleted from statehouse when del is set (an
// event named it), left alone otherwise.
func (im *importer) copyKeys(ctx context.Context, keys []string, del bool) error {
	if len(keys) == 0 {
		return nil
	}
	dumps := make([]*redis.StringCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	_, err := im.src.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			dumps[i] = p.Dump(ctx, k)
			ttls[i] = p.PTTL(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("DUMP on the source: %w", err)
	}
	now := time.Now()
	cmds := make([]redis.Cmder, len(keys))
	_, err = im.dst.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			payload, err := dumps[i].Result()
			if errors.Is(err, redis.Nil) {
				if del {
					cmds[i] = p.Del(ctx, k)
				}
				continue
			}
			var deadline int64 // ms; 0 = no TTL
			if ttl := ttls[i].Val(); ttl > 0 {
				deadline = now.Add(ttl).UnixMilli()
			}
			cmds[i] = p.Do(ctx, "RESTORE", k, deadline, payload, "REPLACE", "ABSTTL")
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	for i, c := range cmds {
		if c == nil {
			continue
		}
		switch err := c.Err(); {
		case err == nil && c.Name() == "del":
			im.res.Deleted++
		case err == nil:
			im.res.Copied++
		default:
			if isConnErr(err) {
				return fmt.Errorf("RESTORE %q on statehouse: %w", keys[i], err)
			}
			im.res.Failed[err.Error()]++
		}
	}
	return nil
}

func isConnErr(err error) bool {
	var re redis.Error
	return !errors.As(err, &re)
}

func (im *importer) progress(final bool) {
	now := time.Now()
	if !final && now.Sub(im.lastShow) < time.Second {
		return
	}
	im.lastShow = now
	secs := now.Sub(im.start).Seconds()
	pct := 100.0
	if im.total > 0 {
		pct = min(100*float64(im.res.Copied)/float64(im.total), 100)
	}
	fmt.Fprintf(im.cfg.Progress, "\rimport: %d keys copied (%.1f%% of %d), %.0f keys/s, %d failed   ",
		im.res.Copied, pct, im.total, float64(im.res.Copied)/max(secs, 1e-3), im.failed())
	if final {
		fmt.Fprintln(im.cfg.Progress)
	}
}

func (im *importer) failed() int64 {
	var n int64
	for _, c := range im.res.Failed {
		n += c
	}
	return n
}

// subscribe switches on the source's keyspace notifications (keeping what
// was on) and subscribes to its database's, before anything is copied.
// restore puts the setting back.
func (im *importer) subscribe(ctx context.Context, db int) (restore func(), ps *redis.PubSub, err error) {
	old, err := im.src.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err != nil {
		return nil, nil, fmt.Errorf("--follow: CONFIG GET notify-keyspace-events on the source: %w", err)
	}
	was := old["notify-keyspace-events"]
	if err := im.src.ConfigSet(ctx, "notify-keyspace-events", was+"KA").Err(); err != nil {
		return nil, nil, fmt.Errorf("--follow: CONFIG SET notify-keyspace-events on the source: %w", err)
	}
	restore = func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		im.src.ConfigSet(c, "notify-keyspace-events", was)
	}
	ps = im.src.PSubscribe(ctx, fmt.Sprintf("__keyspace@%d__:*", db))
	if _, err := ps.Receive(ctx); err != nil { // the subscription is in place
		restore()
		return nil, nil, fmt.Errorf("--follow: PSUBSCRIBE on the source: %w", err)
	}
	go im.listen(ctx, ps, fmt.Sprintf("__keyspace@%d__:", db))
	return restore, ps, nil
}

// listen records the keys events name. A reconnected subscription asks
// for a rescan: events may have been lost while it was down.
func (im *importer) listen(ctx context.Context, ps *redis.PubSub, prefix string) {
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			continue // go-redis reconnects; the Subscription message says so
		}
		switch m := msg.(type) {
		case *redis.Message:
			im.mu.Lock()
			im.pending[strings.TrimPrefix(m.Channel, prefix)] = true
			im.mu.Unlock()
			signal(im.wake)
		case *redis.Subscription:
			signal(im.rescan)
		}
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// follow copies what events name until ctx ends, rescanning after a
// reconnect.
func (im *importer) follow(ctx context.Context, ps *redis.PubSub) error {
	fmt.Fprintln(im.cfg.Progress, "following changes on the source (interrupt to stop)")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := im.drain(ctx); err != nil {
			return err
		}
		if im.cfg.Caught != nil {
			im.cfg.Caught()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-im.wake:
		case <-im.rescan:
			fmt.Fprintln(im.cfg.Progress, "\nthe source's subscription reconnected: rescanning to close the gap")
			if err := im.scan(ctx, &state{Source: im.srcName}); err != nil {
				return err
			}
		case <-tick.C:
			im.progress(false)
		}
	}
}

// drain copies the keys events named so far, in batches; what events
// name meanwhile waits for the next round.
func (im *importer) drain(ctx context.Context) error {
	im.mu.Lock()
	pending := im.pending
	im.pending = map[string]bool{}
	im.mu.Unlock()
	keys := make([]string, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	for len(keys) > 0 {
		n := min(len(keys), im.cfg.Batch)
		if err := im.copyKeys(ctx, keys[:n], true); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// verify counts keys on both sides and compares the values of a sample
// of keys (Verify of them, every key for -1): the digests are sums of
// per-key digests, so the order keys come in does not matter.
func (im *importer) verify(ctx context.Context) error {
	im.res.SourceKeys, _ = im.src.DBSize(ctx).Result()
	im.res.TargetKeys, _ = im.dst.DBSize(ctx).Result()
	if im.cfg.Verify == 0 {
		return nil
	}
	var srcSum, dstSum [32]byte
	var cursor uint64
	for {
		keys, next, err := im.src.Scan(ctx, cursor, "*", int64(im.cfg.Batch)).Result()
		if err != nil {
			return fmt.Errorf("verify: SCAN on the source: %w", err)
		}
		if im.cfg.Verify > 0 && int64(len(keys)) > int64(im.cfg.Verify)-im.res.Verified {
			keys = keys[:int64(im.cfg.Verify)-im.res.Verified]
		}
		sd := im.dumps(ctx, im.src, keys)
		td := im.dumps(ctx, im.dst, keys)
		for i, k := range keys {
			if sd[i] == "" { // gone from the source meanwhile
				continue
			}
			a, _, errA := fsm.DumpDigest([]byte(sd[i]))
			b, _, errB := fsm.DumpDigest([]byte(td[i]))
			im.res.Verified++
			if _, kind, _ := fsm.DumpDigest([]byte(sd[i])); errA != nil || kind == "zset" {
				continue // a value statehouse cannot hold: counted in Failed
			}
			addDigest(&srcSum, a)
			if errB == nil {
				addDigest(&dstSum, b)
			}
			if errB != nil || a != b {
				if len(im.res.Mismatched) < 20 {
					im.res.Mismatched = append(im.res.Mismatched, k)
				}
			}
		}
		cursor = next
		if cursor == 0 || (im.cfg.Verify > 0 && im.res.Verified >= int64(im.cfg.Verify)) {
			break
		}
	}
	im.res.SourceDigest = fmt.Sprintf("%x", sha256.Sum256(srcSum[:]))
	im.res.TargetDigest = fmt.Sprintf("%x", sha256.Sum256(dstSum[:]))
	return nil
}

func (im *importer) dumps(ctx context.Context, c *redis.Client, keys []string) []string {
	cmds := make([]*redis.StringCmd, len(keys))
	c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Dump(ctx, k)
		}
		return nil
	})
	out := make([]string, len(keys))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out
}

// addDigest adds d to sum as a 256-bit number: order-free.
func addDigest(sum *[32]byte, d [32]byte) {
	carry := 0
	for i := 31; i >= 0; i-- {
		v := int(sum[i]) + int(d[i]) + carry
		sum[i], carry = byte(v), v>>8
	}
}

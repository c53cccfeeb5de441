package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestMain(m *testing.M) { testcluster.Main(m) }

// sessionCount is how many sessions the follow test imports: 20k, or
// 2k under -short (the race detector's CI run).
func sessionCount() int {
	if testing.Short() {
		return 2000
	}
	return 20000
}

// fill writes n sessions (hashes with a TTL of an hour) and a few keys of
// every other type.
func fill(t *testing.T, rc *redis.Client, n int) {
	ctx := context.Background()
	for lo := 0; lo < n; lo += 1000 {
		_, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < min(lo+1000, n); i++ {
				k := fmt.Sprintf("session:%d", i)
				p.HSet(ctx, k, "user", fmt.Sprint("u", i), "cart", strings.Repeat("x", i%200), "n", i)
				if i%10 != 0 {
					p.Expire(ctx, k, time.Hour)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rc.Set(ctx, "str:int", 42, 0)
	rc.Set(ctx, "str:long", strings.Repeat("abc", 1000), 0)
	rc.RPush(ctx, "list", "a", "b", "c")
	rc.SAdd(ctx, "set:int", 1, 2, 3)
	rc.SAdd(ctx, "set:str", "a", "b")
	rc.ZAdd(ctx, "zset", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2.5, Member: "b"})
}

// compare checks every key of the source against statehouse: the same
// value (fsm.DumpDigest of both DUMPs) and TTLs that agree within slack;
// and no key on statehouse that the source lacks.
func compare(t *testing.T, rc, sc *redis.Client, slack time.Duration) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := rc.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	bad := 0
	for _, k := range keys {
		a, b := rc.Dump(ctx, k).Val(), sc.Dump(ctx, k).Val()
		da, _, errA := fsm.DumpDigest([]byte(a))
		db, _, errB := fsm.DumpDigest([]byte(b))
		ta, tb := rc.PTTL(ctx, k).Val(), sc.PTTL(ctx, k).Val()
		ttlOK := (ta < 0) == (tb < 0) && (ta < 0 || (tb-ta).Abs() <= slack)
		if errA != nil || errB != nil || da != db || !ttlOK {
			if bad++; bad <= 5 {
				t.Errorf("%s: source %v/%v ttl %v, statehouse %v/%v ttl %v", k, da, errA, ta, db, errB, tb)
			}
		}
	}
	if n := sc.DBSize(ctx).Val(); n != int64(len(keys)) {
		t.Errorf("statehouse holds %d keys, the source %d", n, len(keys))
	}
	t.Logf("%d keys compared, %d differ", len(keys), bad)
}

// TestImportFollow copies 20k sessions while a writer keeps changing,
// expiring, deleting and creating them, follows the changes, and ends
// with both sides holding the same values and TTLs.
func TestImportFollow(t *testing.T) {
	addr := testcluster.StartRedis(t)
	node := testcluster.StartSingle(t, testcluster.Options{})
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	sc := redis.NewClient(testcluster.ClientOptions(node.Addr()))
	defer sc.Close()
	sessions := sessionCount()
	fill(t, rc, sessions)

	stopWriter := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the web tier, still on the source
		defer wg.Done()
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stopWriter:
				return
			default:
			}
			rc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for range 50 {
					k := fmt.Sprintf("session:%d", r.IntN(sessions+2000))
					switch r.IntN(10) {
					case 0:
						p.Del(ctx, k)
					case 1:
						p.Expire(ctx, k, time.Duration(600+r.IntN(3000))*time.Second) // none expires during the test: counts stay comparable
					case 2:
						p.Persist(ctx, k)
					default:
						p.HSet(ctx, k, "cart", fmt.Sprint(r.Uint64()), "seen", r.IntN(1000))
					}
				}
				return nil
			})
			writes.Add(50)
			time.Sleep(5 * time.Millisecond) // a busy web tier, not a flood
		}
	}()
	defer func() {
		select {
		case <-stopWriter:
		default:
			close(stopWriter)
		}
		wg.Wait()
	}()

	var caught atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	var progress strings.Builder
	var progressMu sync.Mutex
	go func() {
		res, err := Run(ctx, Config{
			From: "redis://" + addr, To: testcluster.ClientOptions(node.Addr()), Follow: true, Verify: -1,
			Progress: writerFunc(func(p []byte) { progressMu.Lock(); progress.Write(p); progressMu.Unlock() }),
			Caught:   func() { caught.Add(1) },
		})
		done <- outcome{res, err}
	}()
	testcluster.EventuallyWithin(t, testcluster.StartTimeout, "the first copy", func() error {
		select {
		case o := <-done:
			t.Fatalf("the import ended: %v", o.err)
		default:
		}
		if caught.Load() == 0 {
			progressMu.Lock()
			defer progressMu.Unlock()
			p := progress.String()
			return fmt.Errorf("still scanning: %s", p[max(len(p)-200, 0):])
		}
		return nil
	})
	w0 := writes.Load()
	testcluster.Eventually(t, "more writes after the copy", func() error {
		if writes.Load() < w0+2000 {
			return errors.New("writer slow")
		}
		return nil
	})
	close(stopWriter)
	wg.Wait()
	// A last write on the source: once statehouse has it and the importer
	// has caught up again since, every earlier change was copied.
	rc.Set(context.Background(), "sentinel", "last", 0)
	testcluster.Eventually(t, "the last write copied", func() error {
		if sc.Get(context.Background(), "sentinel").Val() != "last" {
			return errors.New("not yet")
		}
		return nil
	})
	c0 := caught.Load()
	testcluster.Eventually(t, "caught up", func() error {
		if caught.Load() <= c0 {
			return errors.New("not yet")
		}
		return nil
	})
	compare(t, rc, sc, 3*time.Second)
	cancel()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if len(o.res.Mismatched) != 0 || o.res.SourceDigest == "" {
		t.Errorf("the importer's own compare: %+v", o.res)
	}
	if len(o.res.Failed) != 0 {
		t.Errorf("failed keys: %v", o.res.Failed)
	}
	if got, _ := rc.ConfigGet(context.Background(), "notify-keyspace-events").Result(); got["notify-keyspace-events"] != "" {
		t.Errorf("the source's notify-keyspace-events was left at %q", got["notify-keyspace-events"])
	}
	progressMu.Lock()
	defer progressMu.Unlock()
	if !strings.Contains(progress.String(), "keys/s") || !strings.Contains(progress.String(), "100.0%") {
		t.Errorf("no progress line: %q", progress.String())
	}
	t.Logf("copied %d, deleted %d, %d writes during the import", o.res.Copied, o.res.Deleted, writes.Load())
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// TestImportResume: an import given a state file goes on from its cursor,
// and one whose state says it is done copies nothing more; a fresh run
// copies what is left, and copying again changes nothing.
func TestImportResume(t *testing.T) {
	addr := testcluster.StartRedis(t)
	node := testcluster.StartSingle(t, testcluster.Options{})
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	sc := redis.NewClient(testcluster.ClientOptions(node.Addr()))
	defer sc.Close()
	ctx := context.Background()
	fill(t, rc, 2000)
	// A library the source's clients call: FCALL works on statehouse after.
	lib := "#!lua name=carts\nredis.register_function('cart_add', function(keys, args) return redis.call('hincrby', keys[1], args[1], 1) end)"
	if err := rc.Do(ctx, "FUNCTION", "LOAD", lib).Err(); err != nil {
		t.Fatal(err)
	}
	first, cursor, err := rc.Scan(ctx, 0, "*", 300).Result()
	if err != nil || cursor == 0 {
		t.Fatalf("SCAN: %v %d", err, cursor)
	}
	stateFile := filepath.Join(t.TempDir(), "import.state")
	b, _ := json.Marshal(state{Source: addr + "/0", Cursor: cursor})
	os.WriteFile(stateFile, b, 0o600)
	cfg := Config{From: "redis://" + addr, To: testcluster.ClientOptions(node.Addr()), StateFile: stateFile, Batch: 100}
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Libraries != 1 || res.LibrariesNote != "" {
		t.Errorf("function libraries: %d copied, note %q", res.Libraries, res.LibrariesNote)
	}
	if n, err := sc.Do(ctx, "FCALL", "cart_add", "1", "cart:9", "apples").Int(); err != nil || n != 1 {
		t.Errorf("FCALL of the copied library on statehouse: %d, %v", n, err)
	}
	sc.Del(ctx, "cart:9")
	if n := sc.Exists(ctx, first...).Val(); n != 0 {
		t.Errorf("%d keys of the batch before the saved cursor were copied", n)
	}
	if want := rc.DBSize(ctx).Val() - int64(len(first)); sc.DBSize(ctx).Val() < want-50 { // SCAN may return a key twice
		t.Errorf("resumed import copied %d keys, want about %d", sc.DBSize(ctx).Val(), want)
	}
	var st state
	b, _ = os.ReadFile(stateFile)
	if json.Unmarshal(b, &st); !st.Done || st.Copied != res.Copied {
		t.Errorf("state file after the import: %s", b)
	}
	again, err := Run(ctx, cfg)
	if err != nil || again.Copied != res.Copied {
		t.Errorf("a finished import ran again: %+v %v", again, err)
	}
	cfg.StateFile = ""
	cfg.Verify = -1
	res, err = Run(ctx, cfg)
	if err != nil || len(res.Mismatched) > 0 {
		t.Fatalf("fresh import: %+v %v", res, err)
	}
	compare(t, rc, sc, 3*time.Second)
	res2, err := Run(ctx, cfg)
	if err != nil || res2.SourceDigest != res.SourceDigest || res2.TargetDigest != res2.SourceDigest {
		t.Errorf("importing twice: %+v then %+v (%v)", res, res2, err)
	}
}

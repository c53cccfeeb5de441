package server

// Pipelines of mixed commands.

import (
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// A go-redis pipeline of hundreds of mixed commands (writes, reads, errors,
// every type) answers each in order, as a model of the keyspace predicts.
func TestKeyspacePipeline(t *testing.T) {
	_, c := ksNode(t)
	rng := seededRand(t)
	k := checker{t}

	type value struct {
		kind string // string, hash, set
		str  string
		hash map[string]string
		set  map[string]bool
	}
	model := map[string]*value{}
	type expect struct {
		cmd  redis.Cmder
		want any    // nil: a null reply
		err  string // an error reply
	}
	for round := range 3 {
		var exp []expect
		_, err := c.Pipelined(kctx, func(p redis.Pipeliner) error {
			for range 300 {
				key := "p" + strconv.Itoa(rng.IntN(12))
				arg := strconv.Itoa(rng.IntN(5))
				v := model[key]
				typed := func(kind string) bool { return v == nil || v.kind == kind }
				var e expect
				switch rng.IntN(14) {
				case 0:
					e = expect{p.Set(kctx, key, arg, 0), "OK", ""}
					model[key] = &value{kind: "string", str: arg}
				case 1:
					e.cmd = p.Get(kctx, key)
					switch {
					case v == nil:
					case v.kind != "string":
						e.err = errWrongType
					default:
						e.want = v.str
					}
				case 2:
					e.cmd = p.Incr(kctx, key)
					switch {
					case !typed("string"):
						e.err = errWrongType
					case v == nil:
						e.want = int64(1)
						model[key] = &value{kind: "string", str: "1"}
					default:
						if n, err := strconv.ParseInt(v.str, 10, 64); err != nil {
							e.err = errNotInt
						} else {
							v.str = strconv.FormatInt(n+1, 10)
							e.want = n + 1
						}
					}
				case 3:
					e.cmd = p.Append(kctx, key, "x")
					switch {
					case !typed("string"):
						e.err = errWrongType
					case v == nil:
						model[key] = &value{kind: "string", str: "x"}
						e.want = int64(1)
					default:
						v.str += "x"
						e.want = int64(len(v.str))
					}
				case 4:
					e.cmd = p.HSet(kctx, key, "f"+arg, arg)
					switch {
					case !typed("hash"):
						e.err = errWrongType
					case v == nil:
						model[key] = &value{kind: "hash", hash: map[string]string{"f" + arg: arg}}
						e.want = int64(1)
					default:
						_, had := v.hash["f"+arg]
						v.hash["f"+arg] = arg
						e.want = map[bool]int64{true: 0, false: 1}[had]
					}
				case 5:
					e.cmd = p.HGet(kctx, key, "f"+arg)
					switch {
					case !typed("hash"):
						e.err = errWrongType
					case v != nil:
						if f, ok := v.hash["f"+arg]; ok {
							e.want = f
						}
					}
				case 6:
					e.cmd = p.HGetAll(kctx, key)
					switch {
					case !typed("hash"):
						e.err = errWrongType
					case v == nil:
						e.want = map[string]string{}
					default:
						e.want = maps.Clone(v.hash)
					}
				case 7:
					e.cmd = p.SAdd(kctx, key, arg)
					switch {
					case !typed("set"):
						e.err = errWrongType
					case v == nil:
						model[key] = &value{kind: "set", set: map[string]bool{arg: true}}
						e.want = int64(1)
					default:
						e.want = map[bool]int64{true: 0, false: 1}[v.set[arg]]
						v.set[arg] = true
					}
				case 8:
					e.cmd = p.SRem(kctx, key, arg)
					switch {
					case !typed("set"):
						e.err = errWrongType
					case v == nil:
						e.want = int64(0)
					default:
						e.want = map[bool]int64{true: 1, false: 0}[v.set[arg]]
						delete(v.set, arg)
						if len(v.set) == 0 {
							delete(model, key)
						}
					}
				case 9:
					e.cmd = p.SMembers(kctx, key)
					switch {
					case !typed("set"):
						e.err = errWrongType
					case v == nil:
						e.want = []string{}
					default:
						e.want = slices.Sorted(maps.Keys(v.set))
					}
				case 10:
					e = expect{p.Del(kctx, key), map[bool]int64{true: 1, false: 0}[v != nil], ""}
					delete(model, key)
				case 11:
					e = expect{p.Exists(kctx, key), map[bool]int64{true: 1, false: 0}[v != nil], ""}
				case 12:
					e.cmd = p.Type(kctx, key)
					e.want = "none"
					if v != nil {
						e.want = v.kind
					}
				case 13:
					e = expect{p.Do(kctx, "get"), nil, errArity("get")}
				}
				exp = append(exp, e)
			}
			return nil
		})
		if err == nil {
			t.Logf("round %d: pipeline had no error reply", round)
		}
		for i, e := range exp {
			switch {
			case e.err != "":
				k.err(e.cmd, e.err)
			case e.want == nil:
				k.null(e.cmd)
			default:
				k.eq(e.cmd, e.want)
			}
			if t.Failed() {
				t.Fatalf("round %d: stopped at command %d of %d", round, i, len(exp))
			}
		}
	}

	// The keyspace after the pipelines is the model's.
	keys, err := c.Keys(kctx, "*").Result()
	slices.Sort(keys)
	if want := slices.Sorted(maps.Keys(model)); err != nil || !slices.Equal(keys, want) {
		t.Fatalf("KEYS * = %q, %v; model has %q", keys, err, want)
	}

	// A pipeline of writes on many keys, then reads of them, in one go.
	var sets []*redis.StatusCmd
	var gets []*redis.StringCmd
	_, err = c.Pipelined(kctx, func(p redis.Pipeliner) error {
		for i := range 500 {
			sets = append(sets, p.Set(kctx, "bulk:"+strconv.Itoa(i), i, 0))
		}
		for i := range 500 {
			gets = append(gets, p.Get(kctx, "bulk:"+strconv.Itoa(499-i)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bulk pipeline: %v", err)
	}
	for i := range 500 {
		k.eq(sets[i], "OK")
		k.eq(gets[i], strconv.Itoa(499-i))
	}
}

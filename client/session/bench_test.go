package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/statehouse/statehouse/client"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// BenchmarkMiddleware: requests through Manager.Handler, each loading a
// session and saving one changed value (HGETALL+PTTL, then MULTI EXISTS
// HSET PEXPIRE EXEC), from 50 goroutines over 1000 sessions, against a
// 3-node statehouse cluster, a single statehouse node, a single
// redis-server (persistence off) and a redis-server with two replicas
// and WAIT 2 after each save (Options.WaitReplicas), in one run; it logs
// the ratios. No HTTP socket: the handler is called directly.
//
//	go test ./client/session -run '^$' -bench Middleware -benchtime 10s
func BenchmarkMiddleware(b *testing.B) {
	stores := []struct {
		name  string
		wait  int // Options.WaitReplicas
		addrs func(b *testing.B) []string
	}{
		{"statehouse-3", 0, func(b *testing.B) []string {
			var addrs []string
			for _, n := range testcluster.Start(b, 3, testcluster.Options{}).Nodes {
				addrs = append(addrs, n.Addr())
			}
			return addrs
		}},
		{"statehouse-1", 0, func(b *testing.B) []string {
			return []string{testcluster.StartSingle(b, testcluster.Options{}).Addr()}
		}},
		{"redis", 0, func(b *testing.B) []string { return []string{testcluster.StartRedis(b)} }},
		{"redis+2-WAIT", 2, func(b *testing.B) []string {
			master := testcluster.StartRedis(b)
			testcluster.StartRedisReplica(b, master)
			testcluster.StartRedisReplica(b, master)
			return []string{master}
		}},
	}
	rates := map[string]float64{}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			rates[st.name] = benchMiddleware(b, st.addrs(b), st.wait)
		})
	}
	base := rates["redis"]
	for _, st := range stores {
		if base > 0 && rates[st.name] > 0 {
			b.Logf("%-13s %8.0f sessions/s  %.2f× redis", st.name, rates[st.name], rates[st.name]/base)
		}
	}
}

const (
	benchSessions    = 1000
	benchParallelism = 25 // × GOMAXPROCS goroutines
)

func benchMiddleware(b *testing.B, addrs []string, wait int) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.LeaderTimeout)
	defer cancel()
	c, err := client.New(ctx, addrs)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m, err := New(c, Options{Keys: [][]byte{key1}, WaitReplicas: wait})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		if r.URL.Path == "/new" {
			for i := range 4 { // a session as a shop keeps it: a user and a few values
				s.PutString("k"+strconv.Itoa(i), "a value of some thirty-two bytes")
			}
			return
		}
		s.PutString("last", r.URL.Path)
	}))
	cookies := make([]*http.Cookie, benchSessions)
	for i := range cookies {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/new", nil))
		if rec.Code != http.StatusOK || len(rec.Result().Cookies()) != 1 {
			b.Fatalf("new session: %d %v", rec.Code, rec.Result().Cookies())
		}
		cookies[i] = rec.Result().Cookies()[0]
	}
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		for i := 0; pb.Next(); i++ {
			req := httptest.NewRequest("POST", fmt.Sprintf("/p%d", i), nil)
			req.AddCookie(cookies[rng.IntN(len(cookies))])
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("request: %d %s", rec.Code, rec.Body)
				return
			}
		}
	})
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "sessions/s")
	return rate
}

package main

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"sort"
	"testing"

	"github.com/redis/go-redis/v9"
)

// connected reports which pairs can talk (both directions) under drops.
func connected(nodes []string, drops map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			if !contains(drops[a], b) && !contains(drops[b], a) {
				out[a] = append(out[a], b)
			}
		}
	}
	return out
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func TestRingPartition(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	drops, _ := ring(nodes)
	conn := connected(nodes, drops)
	views := map[string]bool{}
	for _, n := range nodes {
		view := append([]string{n}, conn[n]...)
		sort.Strings(view)
		if len(view) != 3 {
			t.Errorf("%s sees %v: not a bare majority", n, view)
		}
		views[fmt.Sprint(view)] = true
	}
	if len(views) != 5 {
		t.Errorf("majorities not all different: %v", views)
	}
	// Three nodes: one cut link, one bridge.
	drops, desc := ring([]string{"a", "b", "c"})
	conn = connected([]string{"a", "b", "c"}, drops)
	if len(conn["c"]) != 2 || len(conn["a"]) != 1 || len(conn["b"]) != 1 {
		t.Errorf("%s: %v", desc, conn)
	}
}

func TestCut(t *testing.T) {
	got := cut([]string{"n1"}, []string{"n2", "n3"})
	want := map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cut = %v, want %v", got, want)
	}
}

// srvErr is an error reply from the server, as go-redis returns it.
type srvErr string

func (e srvErr) Error() string { return string(e) }
func (srvErr) RedisError()     {}

var _ redis.Error = srvErr("")

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, OK},
		{srvErr("CLUSTERDOWN The cluster is down: no leader"), Fail},
		{srvErr("TRYAGAIN The write was not applied, retry it"), Fail},
		{srvErr("LOADING statehouse is loading the dataset in memory"), Fail},
		{srvErr("MISCONF Disk is full: writes are refused until space is freed"), Fail},
		{srvErr("UNCERTAIN The write may or may not have been applied"), Info},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, Fail},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}, Fail},
		{&net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}, Info},
		{errors.New("EOF"), Info},
	} {
		if _, isServer := tc.err.(srvErr); isServer != serverError(tc.err) && tc.err != nil {
			t.Errorf("serverError(%v) = %v", tc.err, !isServer)
		}
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestSplitRuleAndSeedLine(t *testing.T) {
	got := splitRule(`-D FORWARD -i jl1-0b -o jl1-0b -m comment --comment "jepsen-lite jl1-0" -j ACCEPT`)
	want := []string{"-D", "FORWARD", "-i", "jl1-0b", "-o", "jl1-0b", "-m", "comment", "--comment", "jepsen-lite jl1-0", "-j", "ACCEPT"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("splitRule = %q", got)
	}
	line := withSeed([]string{"--workload", "register", "--seed", "5", "--node-args", "--a --b"}, 9)
	if fmt.Sprint(line) != `[--workload register --node-args "--a --b" --seed 9]` {
		t.Errorf("withSeed = %v", line)
	}
}

package server

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"
)

// BenchmarkDispatch measures the front door's share of a command: a real
// node on loopback, 100 commands per round trip so the dispatcher (lookup,
// arity, auth, routing, the reply) outweighs the socket. Reads of one key
// share one read-index round per pipeline; writes are not measured here
// (the cluster benchmarks measure proposing).
func BenchmarkDispatch(b *testing.B) {
	n := startNode(b, withNoSync())
	for _, bc := range []struct {
		name  string
		args  []string
		reply string
	}{
		{"ping", []string{"PING"}, "+PONG\r\n"},
		{"get", []string{"GET", "session:1"}, "$5\r\nalice\r\n"},
		{"client-id", []string{"CLIENT", "ID"}, ""},
		{"command-info", []string{"COMMAND", "INFO", "get"}, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := net.Dial("tcp", n.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReaderSize(c, 1<<16)
			one := encode("SET", "session:1", "alice")
			c.Write(one)
			if v, err := readValue(r); err != nil || v != "+OK\r\n" {
				b.Fatalf("SET: %q, %v", v, err)
			}
			const per = 100
			batch := bytes.Repeat(encode(bc.args...), per)
			b.ResetTimer()
			for done := 0; done < b.N; done += per {
				c.SetDeadline(time.Now().Add(hangGuard))
				if _, err := c.Write(batch); err != nil {
					b.Fatal(err)
				}
				for i := 0; i < per; i++ {
					v, err := readValue(r)
					if err != nil || (bc.reply != "" && v != bc.reply) {
						b.Fatalf("%q: %q, %v", bc.args, v, err)
					}
				}
			}
		})
	}
}

// BenchmarkWriteRoundTrip measures a write as a client without a pipeline
// sends it: 50 connections, one SET each in flight, on one node (no
// fsync), so each SET is a proposal of its own through the front door
// (its context, its copy of the arguments, its reply) and the proposer
// batches across connections.
func BenchmarkWriteRoundTrip(b *testing.B) {
	n := startNode(b, withNoSync())
	b.SetParallelism(25) // × GOMAXPROCS connections: 50 on two cores
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", n.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		r := bufio.NewReaderSize(c, 1<<12)
		cmd := encode("SET", "session:"+c.LocalAddr().String(), "alice")
		for pb.Next() {
			c.SetDeadline(time.Now().Add(hangGuard))
			if _, err := c.Write(cmd); err != nil {
				b.Error(err)
				return
			}
			if v, err := readValue(r); err != nil || v != "+OK\r\n" {
				b.Errorf("SET: %q, %v", v, err)
				return
			}
		}
	})
}

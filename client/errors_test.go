package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/client"
)

// reply is an error reply from the server, as go-redis returns it.
type reply string

func (e reply) Error() string { return string(e) }
func (reply) RedisError()     {}

var _ redis.Error = reply("")

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want client.Outcome
	}{
		{nil, client.OK},
		{redis.Nil, client.OK},
		{reply("CLUSTERDOWN The cluster is down: no leader"), client.Retry},
		{reply("CLUSTERDOWN this node has not heard from a leader for 6.0s (max-staleness 5s)"), client.Retry},
		{reply("TRYAGAIN The write was not applied, retry it"), client.Retry},
		{reply("LOADING statehouse is loading the dataset in memory"), client.Retry},
		{reply("MOVED 866 127.0.0.1:6380"), client.Retry},
		{reply("READONLY You can't write against a read only replica."), client.Retry},
		{reply("MISCONF node n1 cannot persist writes: its data dir has 12.0 MiB free"), client.NotApplied},
		{reply("OOM command not allowed when used memory > 'maxmemory'."), client.NotApplied},
		{redis.TxFailedErr, client.NotApplied},
		{reply("UNCERTAIN The write may or may not have been applied"), client.Uncertain},
		{reply("WRONGTYPE Operation against a key holding the wrong kind of value"), client.Rejected},
		{reply("ERR unknown command 'LPUSH'"), client.Rejected},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, client.Retry},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}, client.Retry},
		{&net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNREFUSED}, client.Retry},
		{redis.ErrPoolTimeout, client.Retry},
		{&net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}, client.Uncertain},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, client.Uncertain},
		{io.EOF, client.Uncertain},
		{context.DeadlineExceeded, client.Uncertain},
		{fmt.Errorf("set: %w", reply("TRYAGAIN The write was not applied, retry it")), client.Retry},
		{&client.Error{Outcome: client.Uncertain, Err: io.EOF}, client.Uncertain},
	} {
		if got := client.Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	unc := &client.Error{Outcome: client.Uncertain, Addr: "127.0.0.1:6379", Err: reply("UNCERTAIN The write may or may not have been applied")}
	if !errors.Is(unc, client.ErrUncertain) || errors.Is(unc, client.ErrNotApplied) {
		t.Errorf("%v: Is ErrUncertain %v, Is ErrNotApplied %v", unc, errors.Is(unc, client.ErrUncertain), errors.Is(unc, client.ErrNotApplied))
	}
	var re redis.Error
	if !errors.As(unc, &re) {
		t.Errorf("%v: errors.As does not reach the reply", unc)
	}
	tx := &client.Error{Outcome: client.NotApplied, Err: redis.TxFailedErr}
	if !errors.Is(tx, redis.TxFailedErr) || !errors.Is(tx, client.ErrNotApplied) || errors.Is(tx, client.ErrUncertain) {
		t.Errorf("%v: Is TxFailedErr %v, Is ErrNotApplied %v", tx, errors.Is(tx, redis.TxFailedErr), errors.Is(tx, client.ErrNotApplied))
	}
}

package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// captured is one record a captureHandler saw, its attributes flattened.
type captured struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// captureHandler keeps every record at or above level, with the attributes
// of With calls, for tests to look through.
type captureHandler struct {
	level slog.Level
	mu    *sync.Mutex
	recs  *[]captured
	with  []slog.Attr
}

func newCapture(level slog.Level) *captureHandler {
	return &captureHandler{level: level, mu: new(sync.Mutex), recs: new([]captured)}
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	c := captured{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.with {
		c.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		c.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, c)
	h.mu.Unlock()
	return nil
}

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.with = append(h.with[:len(h.with):len(h.with)], as...)
	return &c
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

func (h *captureHandler) find(match func(captured) bool) (captured, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range *h.recs {
		if match(c) {
			return c, true
		}
	}
	return captured{}, false
}

func (h *captureHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(*h.recs)
}

// hclog calls land in slog with their key-values, the logger's name as the
// component and its With args; below Warn only when slog is at Debug.
func TestRaftLoggerOntoSlog(t *testing.T) {
	h := newCapture(slog.LevelInfo)
	l := newRaftLogger(slog.New(h).With("node", "n1")).Named("wal").With("segment", 3)
	if l.Name() != "raft.wal" {
		t.Fatalf("name %q, want raft.wal", l.Name())
	}
	l.Warn("segment sealed", "index", 7)
	l.Info("chatty")
	l.Debug("chattier")
	if h.count() != 1 {
		t.Fatalf("%d records, want only the warning", h.count())
	}
	c, _ := h.find(func(captured) bool { return true })
	want := map[string]string{"node": "n1", "component": "raft.wal", "segment": "3", "index": "7"}
	if c.level != slog.LevelWarn || c.msg != "segment sealed" || fmt.Sprint(c.attrs) != fmt.Sprint(want) {
		t.Fatalf("got %v %q %v, want WARN %q %v", c.level, c.msg, c.attrs, "segment sealed", want)
	}
	if l.IsInfo() || !l.IsWarn() || !l.IsError() {
		t.Fatalf("IsInfo %v IsWarn %v IsError %v at slog Info", l.IsInfo(), l.IsWarn(), l.IsError())
	}

	h = newCapture(slog.LevelDebug)
	l = newRaftLogger(slog.New(h))
	if !l.IsDebug() || l.IsTrace() {
		t.Fatalf("IsDebug %v IsTrace %v at slog Debug", l.IsDebug(), l.IsTrace())
	}
	l.Info("election won", "term", 2)
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERR] disk full")
	if _, ok := h.find(func(c captured) bool { return c.msg == "election won" && c.attrs["term"] == "2" }); !ok {
		t.Fatal("an Info record at slog Debug was dropped")
	}
	if _, ok := h.find(func(c captured) bool { return c.msg == "disk full" && c.level == slog.LevelError }); !ok {
		t.Fatal("a standard-library line did not arrive at its level")
	}
}

// Raft's own log lines reach the node's slog logger, with the node's
// attributes and Raft's key-values.
func TestRaftLogsThroughNodeLogger(t *testing.T) {
	h := newCapture(slog.LevelDebug)
	n, err := Open(Config{
		NodeID:           "n1",
		DataDir:          t.TempDir(),
		PeerAddr:         "127.0.0.1:0",
		Logger:           slog.New(h),
		HeartbeatTimeout: 100 * time.Millisecond,
		ElectionTimeout:  100 * time.Millisecond,
	}, fsm.New())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	testcluster.Eventually(t, "raft logs that it leads", func() error {
		c, ok := h.find(func(c captured) bool { return c.msg == "entering leader state" })
		if !ok {
			return fmt.Errorf("no such record among %d", h.count())
		}
		if c.attrs["node"] != "n1" || c.attrs["component"] != "raft" || !strings.Contains(c.attrs["leader"], n.PeerAddr()) {
			return fmt.Errorf("record without the node, component or raft's key-values: %v", c.attrs)
		}
		return nil
	})
}

// What raft logs at WARN or ERROR in normal operation arrives at Info
// (so not at all at slog Info), and only in its routine case.
func TestRoutineRaftRecordsAreNotWarnings(t *testing.T) {
	h := newCapture(slog.LevelInfo)
	l := newRaftLogger(slog.New(h))
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", raft.ServerAddress(""), "last-leader-id", raft.ServerID(""))
	l.Error("failed to decode incoming command", "error", raft.ErrTransportShutdown)
	if h.count() != 0 {
		t.Fatalf("routine records logged at slog Info: %v", *h.recs)
	}
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", raft.ServerAddress("127.0.0.1:1"), "last-leader-id", raft.ServerID("n2"))
	l.Error("failed to decode incoming command", "error", io.ErrUnexpectedEOF)
	if _, ok := h.find(func(c captured) bool { return c.level == slog.LevelWarn && c.attrs["last-leader-id"] == "n2" }); !ok {
		t.Error("a node that lost its leader did not warn")
	}
	if _, ok := h.find(func(c captured) bool { return c.level == slog.LevelError && strings.Contains(c.msg, "decode") }); !ok {
		t.Error("a peer's connection failing for another reason is no longer an error")
	}

	h = newCapture(slog.LevelDebug)
	l = newRaftLogger(slog.New(h))
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", raft.ServerAddress(""), "last-leader-id", raft.ServerID(""))
	if _, ok := h.find(func(c captured) bool {
		return c.level == slog.LevelInfo && strings.HasPrefix(c.msg, "heartbeat timeout")
	}); !ok {
		t.Error("a first election is not logged at Info when the node logs at Debug")
	}
}

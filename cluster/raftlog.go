package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// raftLogger is the hclog.Logger that hashicorp/raft, its transport, the
// snapshot store and raft-wal log through, written onto the node's slog
// logger: their records carry the node's attributes and go where the
// node's go. The hclog name becomes the "component" attribute ("raft",
// "raft.wal"). Raft is chatty below Warn (every election step, every
// snapshot), so those records pass only when the node logs at Debug. The
// few it logs at Warn or Error in normal operation are Info (routine).
type raftLogger struct {
	base  *slog.Logger // the node's logger, without name or implied args
	log   *slog.Logger // base with the component and the implied args
	name  string
	args  []any         // implied args (With), kept to rebuild log on rename
	level *atomic.Int64 // least slog.Level passed on; shared by derived loggers
}

// levelTrace is where hclog's Trace lands in slog, below Debug.
const levelTrace = slog.LevelDebug - 4

func newRaftLogger(base *slog.Logger) hclog.Logger {
	least := slog.LevelWarn
	if base.Enabled(context.Background(), slog.LevelDebug) {
		least = levelTrace
	}
	l := &raftLogger{base: base, name: "raft", level: new(atomic.Int64)}
	l.level.Store(int64(least))
	l.log = base.With("component", l.name)
	return l
}

func (l *raftLogger) derive(name string, args []any) *raftLogger {
	return &raftLogger{base: l.base, log: l.base.With("component", name).With(args...), name: name, args: args, level: l.level}
}

func toSlog(level hclog.Level) (slog.Level, bool) {
	switch level {
	case hclog.Trace:
		return levelTrace, true
	case hclog.Debug:
		return slog.LevelDebug, true
	case hclog.NoLevel, hclog.Info:
		return slog.LevelInfo, true
	case hclog.Warn:
		return slog.LevelWarn, true
	case hclog.Error:
		return slog.LevelError, true
	}
	return 0, false // hclog.Off
}

func fromSlog(level slog.Level) hclog.Level {
	switch {
	case level <= levelTrace:
		return hclog.Trace
	case level <= slog.LevelDebug:
		return hclog.Debug
	case level <= slog.LevelInfo:
		return hclog.Info
	case level <= slog.LevelWarn:
		return hclog.Warn
	}
	return hclog.Error
}

func (l *raftLogger) enabled(level hclog.Level) bool {
	lv, ok := toSlog(level)
	return ok && int64(lv) >= l.level.Load() && l.log.Enabled(context.Background(), lv)
}

func (l *raftLogger) Log(level hclog.Level, msg string, args ...any) {
	level = routineLevel(level, msg, args)
	if !l.enabled(level) {
		return
	}
	lv, _ := toSlog(level)
	l.log.Log(context.Background(), lv, msg, args...)
}

func (l *raftLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *raftLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *raftLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *raftLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *raftLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *raftLogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *raftLogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *raftLogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *raftLogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *raftLogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *raftLogger) ImpliedArgs() []any { return l.args }

func (l *raftLogger) With(args ...any) hclog.Logger {
	return l.derive(l.name, append(l.args[:len(l.args):len(l.args)], args...))
}

func (l *raftLogger) Name() string { return l.name }

func (l *raftLogger) Named(name string) hclog.Logger {
	if l.name != "" {
		name = l.name + "." + name
	}
	return l.derive(name, l.args)
}

func (l *raftLogger) ResetNamed(name string) hclog.Logger { return l.derive(name, l.args) }

// SetLevel changes the least level passed on, for this logger and every
// logger derived from the same root.
func (l *raftLogger) SetLevel(level hclog.Level) {
	if lv, ok := toSlog(level); ok {
		l.level.Store(int64(lv))
	} else {
		l.level.Store(int64(slog.LevelError + 1)) // Off
	}
}

func (l *raftLogger) GetLevel() hclog.Level { return fromSlog(slog.Level(l.level.Load())) }

func (l *raftLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter logs each write as one record: at opts.ForceLevel, at the
// level its "[WARN]"-style prefix names if opts.InferLevels, else at Info.
func (l *raftLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	w := &lineWriter{l: l}
	if opts != nil {
		w.opts = *opts
	}
	return w
}

type lineWriter struct {
	l    *raftLogger
	opts hclog.StandardLoggerOptions
}

func (w *lineWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), " \t\n")
	level := hclog.Info
	switch {
	case w.opts.ForceLevel != hclog.NoLevel:
		_, line = levelPrefix(line)
		level = w.opts.ForceLevel
	case w.opts.InferLevels:
		level, line = levelPrefix(line)
	}
	w.l.Log(level, line)
	return len(p), nil
}

// levelPrefix reads the level a standard-library log line names, as hclog
// does, and strips it.
func levelPrefix(line string) (hclog.Level, string) {
	for _, p := range []struct {
		prefix string
		level  hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(line, p.prefix); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, line
}

// routine lists what hashicorp/raft logs at WARN or ERROR although a
// healthy node logs it in normal operation. Each is logged at Info (so,
// like raft's other Info lines, only when the node logs at Debug), and
// only in the case that is routine: WARN and ERROR stay for what needs a
// look.
var routine = []struct {
	msg string
	is  func(args []any) bool
}{
	// The first election after a node starts: no leader was known yet
	// (last-leader-id empty). A node that knew a leader and lost it still
	// warns.
	{"heartbeat timeout reached, starting election", func(args []any) bool {
		id, ok := argValue(args, "last-leader-id")
		return ok && fmt.Sprint(id) == ""
	}},
	// A peer's connection cut by this node closing its own transport at
	// shutdown.
	{"failed to decode incoming command", func(args []any) bool {
		err, _ := argValue(args, "error")
		e, ok := err.(error)
		return ok && errors.Is(e, raft.ErrTransportShutdown)
	}},
	// A leader that learns a peer has a newer term steps down: a member it
	// handed leadership to (a SIGTERM, an operator's transfer) has won an
	// election; so has one elected while this node was cut off.
	{"peer has newer term, stopping replication", func([]any) bool { return true }},
	// Leader stickiness: a candidate whose election timer fired while
	// another won (two candidates at a cluster's start), or one cut off
	// from the leader, asks a voter that still hears the leader. The
	// candidate's own node warns about what needs a look.
	{"rejecting vote request since we have a leader", func([]any) bool { return true }},
	// A follower behind the leader (a node just added, one restarted):
	// Raft's log matching walks back to where their logs agree and sends
	// from there. Both sides log each step.
	{"appendEntries rejected, sending older logs", func([]any) bool { return true }},
	{"failed to get previous log", func(args []any) bool {
		err, _ := argValue(args, "error")
		e, ok := err.(error)
		return ok && errors.Is(e, raft.ErrLogNotFound)
	}},
}

// routineLevel is level, or Info for a record routine lists.
func routineLevel(level hclog.Level, msg string, args []any) hclog.Level {
	if level < hclog.Warn {
		return level
	}
	for _, r := range routine {
		if msg == r.msg && r.is(args) {
			return hclog.Info
		}
	}
	return level
}

// argValue is the value of key in hclog's key-value pairs.
func argValue(args []any, key string) (any, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == key {
			return args[i+1], true
		}
	}
	return nil, false
}

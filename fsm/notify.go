package fsm

import "strings"

// Keyspace notifications, as Redis has them (notify-keyspace-events), but
// from the log: every node's fsm emits the events of each committed entry
// as it applies it, so the subscribers of every node see the same events
// in the same order, and an expiry fires once on every node when the
// leader's reap (or a write finding the key expired) commits, whichever
// node leads. The setting itself goes through the log, so every node has
// the same one.

// Notification classes, Redis's bits.
const (
	NotifyKeyspace = 1 << iota // K: __keyspace@<db>__:<key> channels
	NotifyKeyevent             // E: __keyevent@<db>__:<event> channels
	NotifyGeneric              // g: DEL EXPIRE RENAME...
	NotifyString               // $
	NotifyList                 // l
	NotifySet                  // s
	NotifyHash                 // h
	NotifyZset                 // z
	NotifyExpired              // x
	NotifyEvicted              // e
	NotifyStream               // t
	NotifyKeyMiss              // m (reads: never emitted by statehouse, whose reads go through no log)
	NotifyLoaded               // (module only)
	NotifyModule               // d
	NotifyNew                  // n
)

// notifyAll is "A": g$lshzxetd.
const notifyAll = NotifyGeneric | NotifyString | NotifyList | NotifySet | NotifyHash | NotifyZset | NotifyExpired | NotifyEvicted | NotifyStream | NotifyModule

// ParseNotifyFlags reads notify-keyspace-events as Redis does
// (keyspaceEventsStringToFlags); ok is false for an unknown letter.
func ParseNotifyFlags(s string) (int, bool) {
	flags := 0
	for _, c := range s {
		switch c {
		case 'A':
			flags |= notifyAll
		case 'g':
			flags |= NotifyGeneric
		case '$':
			flags |= NotifyString
		case 'l':
			flags |= NotifyList
		case 's':
			flags |= NotifySet
		case 'h':
			flags |= NotifyHash
		case 'z':
			flags |= NotifyZset
		case 'x':
			flags |= NotifyExpired
		case 'e':
			flags |= NotifyEvicted
		case 'K':
			flags |= NotifyKeyspace
		case 'E':
			flags |= NotifyKeyevent
		case 't':
			flags |= NotifyStream
		case 'm':
			flags |= NotifyKeyMiss
		case 'd':
			flags |= NotifyModule
		case 'n':
			flags |= NotifyNew
		default:
			return 0, false
		}
	}
	return flags, true
}

// FormatNotifyFlags writes flags as CONFIG GET shows them
// (keyspaceEventsFlagsToString).
func FormatNotifyFlags(flags int) string {
	var b strings.Builder
	if flags&notifyAll == notifyAll {
		b.WriteByte('A')
	} else {
		for _, f := range []struct {
			bit int
			c   byte
		}{{NotifyGeneric, 'g'}, {NotifyString, '$'}, {NotifyList, 'l'}, {NotifySet, 's'}, {NotifyHash, 'h'},
			{NotifyZset, 'z'}, {NotifyExpired, 'x'}, {NotifyEvicted, 'e'}, {NotifyStream, 't'}, {NotifyModule, 'd'}} {
			if flags&f.bit != 0 {
				b.WriteByte(f.c)
			}
		}
	}
	if flags&NotifyNew != 0 {
		b.WriteByte('n')
	}
	if flags&NotifyKeyspace != 0 {
		b.WriteByte('K')
	}
	if flags&NotifyKeyevent != 0 {
		b.WriteByte('E')
	}
	if flags&NotifyKeyMiss != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

// Event is one keyspace notification.
type Event struct {
	DB    int
	Event string // "set", "expired"...
	Key   []byte
}

// OnEvents sets what the fsm does with the events of each entry it
// applies (the server publishes them); it is called after the entry is
// applied, outside the fsm's lock, in log order.
func (f *FSM) OnEvents(fn func([]Event)) { f.onEvents.Store(&fn) }

// QuietUntil makes the fsm give no keyspace notifications for entries up
// to index: those a node applies again after it restarts.
func (f *FSM) QuietUntil(index uint64) { f.quietUntil.Store(index) }

// NotifyFlags is the cluster's notify-keyspace-events.
func (f *FSM) NotifyFlags() int { return int(f.notifyFlags.Load()) }

// notify records an event of class for key, if the setting asks for it.
func (c *Ctx) notify(class int, event string, key []byte) {
	flags := int(c.f.notifyFlags.Load())
	if flags&class == 0 || flags&(NotifyKeyspace|NotifyKeyevent) == 0 || !c.Write {
		return
	}
	c.f.events = append(c.f.events, Event{DB: c.DB, Event: event, Key: append([]byte(nil), key...)})
}

// configNotifyCmd applies "statehouse.notify flags": the cluster's
// notify-keyspace-events.
func configNotifyCmd(c *Ctx, args [][]byte) {
	flags, ok := ParseNotifyFlags(string(args[1]))
	if !ok {
		c.Error("ERR Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
		return
	}
	c.f.notifyFlags.Store(int64(flags))
	c.OK()
}

// NotifyCommand sets notify-keyspace-events through the log.
const NotifyCommand = "statehouse.notify"

package server

import (
	"github.com/statehouse/statehouse/fsm"
)

// The front-door rows of the command table: the commands the server
// answers itself (connection state, transactions, server information).
// The keyspace rows come from the fsm; New puts both in one table, which
// every check in the dispatcher, COMMAND, and MULTI read.
//
// Flags are Redis 7.0's for each command (COMMAND INFO on redis-server),
// with one deliberate difference: statehouse refuses inside MULTI
// (FlagNoMulti) the front-door commands other than PING, ECHO and SELECT,
// where Redis would queue them.

// conn adapts a front-door handler to the table's Conn field.
func conn(h func(p *pipeline, args [][]byte)) func(any, [][]byte) {
	return func(p any, args [][]byte) { h(p.(*pipeline), args) }
}

// Flag sets the rows below share.
const (
	fd        = fsm.FlagFrontDoor
	anytime   = fsm.FlagLoading | fsm.FlagStale
	connSub   = fd | fsm.FlagNoScript | anytime | fsm.FlagNoMulti // CLIENT subcommands
	adminSub  = connSub | fsm.FlagAdmin                           // CLIENT KILL, CONFIG GET...
	txControl = fd | fsm.FlagNoScript | anytime | fsm.FlagTxControl
	noAuth    = fd | fsm.FlagNoScript | anytime | fsm.FlagFast | fsm.FlagNoAuth
	// CLUSTER subcommands: answered by a replica cut off from its master
	// too (stale), as in Redis.
	clusterSub = fd | fsm.FlagStale | fsm.FlagNoMulti
	subFlags   = fd | fsm.FlagPubSub | fsm.FlagNoScript | anytime | fsm.FlagNoMulti // (P|S)(UN)SUBSCRIBE
	pubsubSub  = fd | fsm.FlagPubSub | anytime | fsm.FlagNoMulti                    // PUBSUB CHANNELS...
	evalKeys   = fsm.FlagNoMandatoryKeys | fsm.FlagMovableKeys
	aclSub     = connSub                 // ACL CAT, GENPASS, WHOAMI
	aclAdmin   = connSub | fsm.FlagAdmin // ACL SETUSER, LIST...
)

func frontDoorCommands() []*fsm.Command {
	return []*fsm.Command{
		// connection
		{Name: "ping", Arity: -1, Flags: fd | fsm.FlagFast, Categories: fsm.CatConnection, Group: "connection", Conn: conn(pingCmd)},
		{Name: "echo", Arity: 2, Flags: fd | anytime | fsm.FlagFast, Categories: fsm.CatConnection, Group: "connection", Conn: conn(echoCmd)},
		{Name: "select", Arity: 2, Flags: fd | anytime | fsm.FlagFast, Categories: fsm.CatConnection, Group: "connection", Conn: conn(selectCmd)},
		{Name: "quit", Arity: -1, Flags: noAuth | fsm.FlagTxControl, Categories: fsm.CatConnection, Group: "connection", Conn: conn(quitCmd)},
		{Name: "reset", Arity: 1, Flags: noAuth | fsm.FlagTxControl, Categories: fsm.CatConnection, Group: "connection", Conn: conn(resetCmd)},
		{Name: "hello", Arity: -1, Flags: noAuth | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "connection", Conn: conn(helloCmd)},
		{Name: "auth", Arity: -2, Flags: noAuth | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "connection", Conn: conn(authCmd)},
		{Name: "client", Arity: -2, Flags: fd, Group: "connection", Subcommands: []*fsm.Command{
			{Name: "id", Arity: 2, Flags: connSub, Categories: fsm.CatConnection, Group: "connection", Conn: conn(clientIDCmd)},
			{Name: "info", Arity: 2, Flags: connSub, Categories: fsm.CatConnection, Group: "connection", Conn: conn(clientInfoCmd)},
			{Name: "list", Arity: -2, Flags: adminSub, Categories: fsm.CatConnection, Group: "connection", Conn: conn(clientListCmd)},
			{Name: "kill", Arity: -3, Flags: adminSub, Categories: fsm.CatConnection, Group: "connection", Conn: conn(clientKillCmd)},
			{Name: "getname", Arity: 2, Flags: connSub, Categories: fsm.CatConnection, Group: "connection", Conn: conn(clientGetnameCmd)},
			{Name: "setname", Arity: 3, Flags: connSub, Categories: fsm.CatConnection, Group: "connection", Conn: conn(clientSetnameCmd)},
			{Name: "setinfo", Arity: 4, Flags: connSub, Categories: fsm.CatConnection, Group: "connection", Conn: conn(clientSetinfoCmd)},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "connection", Conn: conn(clientHelpCmd)},
		}},

		// transactions
		{Name: "multi", Arity: 1, Flags: txControl | fsm.FlagFast, Categories: fsm.CatTransaction, Group: "transactions", Conn: conn(multiCmd)},
		{Name: "exec", Arity: 1, Flags: txControl, Categories: fsm.CatTransaction, Group: "transactions", Conn: conn(execCmd)},
		{Name: "discard", Arity: 1, Flags: txControl | fsm.FlagFast, Categories: fsm.CatTransaction, Group: "transactions", Conn: conn(discardCmd)},
		{Name: "watch", Arity: -2, Flags: txControl | fsm.FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Categories: fsm.CatTransaction, Group: "transactions", Conn: conn(watchCmd)},
		// Redis queues UNWATCH inside MULTI; statehouse has always run it at once.
		{Name: "unwatch", Arity: 1, Flags: txControl | fsm.FlagFast, Categories: fsm.CatTransaction, Group: "transactions", Conn: conn(unwatchCmd)},

		// replication and the cluster face
		{Name: "readonly", Arity: 1, Flags: fd | anytime | fsm.FlagFast | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "cluster", Conn: conn(readonlyCmd)},
		{Name: "readwrite", Arity: 1, Flags: fd | anytime | fsm.FlagFast | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "cluster", Conn: conn(readwriteCmd)},
		{Name: "role", Arity: 1, Flags: fd | fsm.FlagNoScript | anytime | fsm.FlagFast | fsm.FlagNoMulti, Categories: fsm.CatAdmin | fsm.CatDangerous, Group: "server", Conn: conn(roleCmd)},
		{Name: "cluster", Arity: -2, Flags: fd, Group: "cluster", Subcommands: []*fsm.Command{
			{Name: "slots", Arity: 2, Flags: clusterSub, Group: "cluster", Conn: conn(clusterSlotsCmd)},
			{Name: "shards", Arity: 2, Flags: clusterSub, Group: "cluster", Conn: conn(clusterShardsCmd)},
			{Name: "nodes", Arity: 2, Flags: clusterSub, Group: "cluster", Conn: conn(clusterNodesCmd)},
			{Name: "info", Arity: 2, Flags: clusterSub, Group: "cluster", Conn: conn(clusterInfoCmd)},
			{Name: "myid", Arity: 2, Flags: clusterSub, Group: "cluster", Conn: conn(clusterMyidCmd)},
			{Name: "keyslot", Arity: 3, Flags: clusterSub, Group: "cluster", Conn: conn(clusterKeyslotCmd)},
			{Name: "countkeysinslot", Arity: 3, Flags: clusterSub, Group: "cluster", Conn: conn(clusterCountkeysinslotCmd)},
			{Name: "getkeysinslot", Arity: 4, Flags: clusterSub, Group: "cluster", Conn: conn(clusterGetkeysinslotCmd)},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Group: "cluster", Conn: conn(clusterHelpCmd)},
		}},
		{Name: "wait", Arity: 3, Flags: fd | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "generic", Conn: conn(waitCmd)},

		// server
		{Name: "command", Arity: -1, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "server", Conn: conn(commandCmd), Subcommands: []*fsm.Command{
			{Name: "count", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "server", Conn: conn(commandCountCmd)},
			{Name: "info", Arity: -2, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "server", Conn: conn(commandInfoCmd)},
			{Name: "docs", Arity: -2, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "server", Conn: conn(commandDocsCmd)},
			{Name: "getkeys", Arity: -4, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "server", Conn: conn(commandGetkeysCmd)},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatConnection, Group: "server", Conn: conn(commandHelpCmd)},
		}},
		{Name: "config", Arity: -2, Flags: fd, Group: "server", Subcommands: []*fsm.Command{
			{Name: "get", Arity: -3, Flags: adminSub, Group: "server", Conn: conn(configGetCmd)},
			{Name: "set", Arity: -4, Flags: adminSub, Group: "server", Conn: conn(configSetCmd)},
			{Name: "resetstat", Arity: 2, Flags: adminSub, Group: "server", Conn: conn(configResetstatCmd)},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Group: "server", Conn: conn(configHelpCmd)},
		}},
		{Name: "memory", Arity: -2, Flags: fd, Group: "server", Subcommands: []*fsm.Command{
			{Name: "usage", Arity: -3, Flags: fd | fsm.FlagReadOnly | fsm.FlagNoMulti, FirstKey: 2, LastKey: 2, Step: 1, Group: "server", Conn: conn(memoryUsageCmd)},
			{Name: "stats", Arity: 2, Flags: fd | fsm.FlagNoMulti, Group: "server", Conn: conn(memoryStatsCmd)},
			{Name: "purge", Arity: 2, Flags: fd | fsm.FlagNoMulti, Group: "server", Conn: conn(memoryPurgeCmd)},
			{Name: "doctor", Arity: 2, Flags: fd | fsm.FlagNoMulti, Group: "server", Conn: conn(memoryDoctorCmd)},
			{Name: "malloc-stats", Arity: 2, Flags: fd | fsm.FlagNoMulti, Group: "server", Conn: conn(memoryMallocStatsCmd)},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Group: "server", Conn: conn(memoryHelpCmd)},
		}},
		{Name: "info", Arity: -1, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatDangerous, Group: "server", Conn: conn(infoCmd)},
		{Name: "time", Arity: 1, Flags: fd | anytime | fsm.FlagFast | fsm.FlagNoMulti, Group: "server", Conn: conn(timeCmd)},
		{Name: "save", Arity: 1, Flags: fd | fsm.FlagAdmin | fsm.FlagNoScript | fsm.FlagNoMulti, Group: "server", Conn: conn(saveCmd)},
		{Name: "raft", Arity: -2, Flags: fd, Group: "cluster", Subcommands: []*fsm.Command{
			{Name: "status", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Group: "cluster", Conn: conn(raftStatusCmd)},
			{Name: "transfer-leader", Arity: -2, Flags: adminSub, Categories: fsm.CatDangerous, Group: "cluster", Conn: conn(raftTransferLeaderCmd)},
			{Name: "remove", Arity: 3, Flags: adminSub, Categories: fsm.CatDangerous, Group: "cluster", Conn: conn(raftRemoveCmd)},
		}},
		// scripting (script.go)
		{Name: "eval", Arity: -3, Flags: fd | fsm.FlagNoScript | fsm.FlagStale | evalKeys, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(evalCmd(false, false))},
		{Name: "evalsha", Arity: -3, Flags: fd | fsm.FlagNoScript | fsm.FlagStale | evalKeys, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(evalCmd(true, false))},
		{Name: "eval_ro", Arity: -3, Flags: fd | fsm.FlagReadOnly | fsm.FlagNoScript | fsm.FlagStale | evalKeys, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(evalCmd(false, true))},
		{Name: "evalsha_ro", Arity: -3, Flags: fd | fsm.FlagReadOnly | fsm.FlagNoScript | fsm.FlagStale | evalKeys, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(evalCmd(true, true))},
		// functions (function.go)
		{Name: "fcall", Arity: -3, Flags: fd | fsm.FlagNoScript | fsm.FlagStale | fsm.FlagNoMandatoryKeys, Categories: fsm.CatScripting, Group: "scripting", KeysFunc: fsm.FcallKeys, Conn: conn(fcallCmd(false))},
		{Name: "fcall_ro", Arity: -3, Flags: fd | fsm.FlagReadOnly | fsm.FlagNoScript | fsm.FlagStale | fsm.FlagNoMandatoryKeys, Categories: fsm.CatScripting, Group: "scripting", KeysFunc: fsm.FcallKeys, Conn: conn(fcallCmd(true))},
		{Name: "function", Arity: -2, Flags: fd, Group: "scripting", Subcommands: []*fsm.Command{
			{Name: "load", Arity: -3, Flags: fd | fsm.FlagWrite | fsm.FlagDenyOOM | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionLoadCmd)},
			{Name: "delete", Arity: 3, Flags: fd | fsm.FlagWrite | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionDeleteCmd)},
			{Name: "flush", Arity: -2, Flags: fd | fsm.FlagWrite | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionFlushCmd)},
			{Name: "restore", Arity: -3, Flags: fd | fsm.FlagWrite | fsm.FlagDenyOOM | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionRestoreCmd)},
			{Name: "list", Arity: -2, Flags: fd | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionListCmd)},
			{Name: "dump", Arity: 2, Flags: fd | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionDumpCmd)},
			{Name: "stats", Arity: 2, Flags: fd | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionStatsCmd)},
			{Name: "kill", Arity: 2, Flags: fd | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionKillCmd)},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(functionHelpCmd)},
		}},
		{Name: "script", Arity: -2, Flags: fd, Group: "scripting", Subcommands: []*fsm.Command{
			{Name: "exists", Arity: -3, Flags: fd | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(scriptExistsCmd)},
			{Name: "flush", Arity: -2, Flags: fd | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(scriptFlushCmd)},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(scriptHelpCmd)},
			{Name: "kill", Arity: 2, Flags: fd | fsm.FlagNoScript | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(scriptKillCmd)},
			{Name: "load", Arity: 3, Flags: fd | fsm.FlagNoScript | fsm.FlagStale | fsm.FlagNoMulti, Categories: fsm.CatScripting, Group: "scripting", Conn: conn(scriptLoadCmd)},
		}},
		// pub/sub (pubsub.go)
		{Name: "subscribe", Arity: -2, Flags: subFlags, Group: "pubsub", Conn: conn(subscribeCmd(subChannel))},
		{Name: "psubscribe", Arity: -2, Flags: subFlags, Group: "pubsub", Conn: conn(subscribeCmd(subPattern))},
		{Name: "ssubscribe", Arity: -2, Flags: subFlags | fsm.FlagNotKey, FirstKey: 1, LastKey: -1, Step: 1, Group: "pubsub", Conn: conn(subscribeCmd(subShard))},
		{Name: "unsubscribe", Arity: -1, Flags: subFlags, Group: "pubsub", Conn: conn(unsubscribeCmd(subChannel))},
		{Name: "punsubscribe", Arity: -1, Flags: subFlags, Group: "pubsub", Conn: conn(unsubscribeCmd(subPattern))},
		{Name: "sunsubscribe", Arity: -1, Flags: subFlags | fsm.FlagNotKey, FirstKey: 1, LastKey: -1, Step: 1, Group: "pubsub", Conn: conn(unsubscribeCmd(subShard))},
		{Name: "publish", Arity: 3, Flags: fd | fsm.FlagPubSub | anytime | fsm.FlagFast | fsm.FlagAfterExec, Group: "pubsub", Conn: conn(publishCmd(false))},
		{Name: "spublish", Arity: 3, Flags: fd | fsm.FlagPubSub | anytime | fsm.FlagFast | fsm.FlagNotKey | fsm.FlagAfterExec, FirstKey: 1, LastKey: 1, Step: 1, Group: "pubsub", Conn: conn(publishCmd(true))},
		{Name: "pubsub", Arity: -2, Flags: fd, Group: "pubsub", Subcommands: []*fsm.Command{
			{Name: "channels", Arity: -2, Flags: pubsubSub, Group: "pubsub", Conn: conn(pubsubChannelsCmd(subChannel))},
			{Name: "numpat", Arity: 2, Flags: pubsubSub, Group: "pubsub", Conn: conn(pubsubNumpatCmd)},
			{Name: "numsub", Arity: -2, Flags: pubsubSub, Group: "pubsub", Conn: conn(pubsubNumsubCmd(subChannel))},
			{Name: "shardchannels", Arity: -2, Flags: pubsubSub, Group: "pubsub", Conn: conn(pubsubChannelsCmd(subShard))},
			{Name: "shardnumsub", Arity: -2, Flags: pubsubSub, Group: "pubsub", Conn: conn(pubsubNumsubCmd(subShard))},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Group: "pubsub", Conn: conn(pubsubHelpCmd)},
		}},
		{Name: "acl", Arity: -2, Flags: fd, Group: "server", Subcommands: []*fsm.Command{
			{Name: "cat", Arity: -2, Flags: aclSub, Group: "server", Conn: conn(aclCatCmd)},
			{Name: "deluser", Arity: -3, Flags: aclAdmin, Group: "server", Conn: conn(aclDeluserCmd)},
			{Name: "dryrun", Arity: -4, Flags: aclAdmin, Group: "server", Conn: conn(aclDryrunCmd)},
			{Name: "genpass", Arity: -2, Flags: aclSub, Group: "server", Conn: conn(aclGenpassCmd)},
			{Name: "getuser", Arity: 3, Flags: aclAdmin, Group: "server", Conn: conn(aclGetuserCmd)},
			{Name: "help", Arity: 2, Flags: fd | anytime | fsm.FlagNoMulti, Group: "server", Conn: conn(aclHelpCmd)},
			{Name: "list", Arity: 2, Flags: aclAdmin, Group: "server", Conn: conn(aclListCmd)},
			{Name: "load", Arity: 2, Flags: aclAdmin, Group: "server", Conn: conn(aclLoadCmd)},
			{Name: "log", Arity: -2, Flags: aclAdmin, Group: "server", Conn: conn(aclLogCmd)},
			{Name: "save", Arity: 2, Flags: aclAdmin, Group: "server", Conn: conn(aclSaveCmd)},
			{Name: "setuser", Arity: -3, Flags: aclAdmin, Group: "server", Conn: conn(aclSetuserCmd)},
			{Name: "users", Arity: 2, Flags: aclAdmin, Group: "server", Conn: conn(aclUsersCmd)},
			{Name: "whoami", Arity: 2, Flags: aclSub, Group: "server", Conn: conn(aclWhoamiCmd)},
		}},
		{Name: "bgsave", Arity: -1, Flags: fd | fsm.FlagAdmin | fsm.FlagNoScript | fsm.FlagNoMulti, Group: "server", Conn: conn(bgsaveCmd)},
	}
}

// newTable is the server's command table: the fsm's keyspace rows and the
// front door's.
func newTable() *fsm.Table {
	t := fsm.NewTable(fsm.KeyspaceCommands(), frontDoorCommands())
	fsm.SetFrontDoorTable(t) // scripts refuse its noscript rows in Redis's words
	return t
}

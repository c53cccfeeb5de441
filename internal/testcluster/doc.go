// Package testcluster is statehouse's test vocabulary: real statehouse
// processes on loopback for process-level tests (start a cluster or a
// single node, find its leader, kill -9, pause and restart nodes), waiting
// on conditions, redis-cli and a scratch redis-server. Tests use
// statehouse through it as a user would: over RESP.
//
//	c := testcluster.Start(t, 3, testcluster.Options{})
//	leader := c.Leader()
//	leader.Kill()
//	next := c.WaitForNewLeader(leader)
//	leader.Start()
//	leader.WaitWritable()
//
// Rules the tests that use it keep:
//   - Wait on a condition (Eventually, Poll), never on a sleep being long
//     enough; a sleep is only for time the test is about (a TTL running
//     out: SleepPast). Every timeout is named in wait.go.
//   - Speed is measured by benchmarks, never asserted.
//   - A probe that needs a key writes ProbeKey in ProbeDB, which tests do
//     not count.
//   - A random test takes its seed from Seed, which logs how to replay it.
//   - Every package that starts processes calls Main from its TestMain, so
//     a run leaves nothing behind.
//
// It imports nothing of statehouse's, so any package's tests may use it.
package testcluster

package server

import (
	"log/slog"
	"strconv"
	"syscall"
)

// reservedFDs are the file descriptors a node needs besides its clients:
// Raft's and the peers' connections, the log's segment files, snapshots,
// the admin listener.
const reservedFDs = 128

// clientsWithinFDLimit returns how many clients the process can serve: at
// most maxClients, and no more than its open-files limit leaves after
// reservedFDs. It raises the soft limit toward the hard one first, and
// says so in the log when maxclients must come down, as Redis does.
func clientsWithinFDLimit(maxClients int, log *slog.Logger) int {
	most, limit := clientsFit(maxClients)
	if most < maxClients {
		log.Warn("maxclients reduced: the open-files limit leaves too few file descriptors (raise it with ulimit -n or LimitNOFILE)",
			"maxclients", maxClients, "reduced_to", most, "open_files_limit", limit, "needs", maxClients+reservedFDs)
	}
	return most
}

// clientsFit raises the open-files soft limit toward the hard one if
// maxClients needs more, and returns how many clients the limit then
// leaves room for (at most maxClients) and the limit.
func clientsFit(maxClients int) (most int, limit uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return maxClients, 0 // nothing to go by: trust the setting
	}
	want := uint64(maxClients) + reservedFDs
	if rl.Cur < want && rl.Cur < rl.Max {
		raised := rl
		raised.Cur = min(want, rl.Max)
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			rl = raised
		}
	}
	if rl.Cur >= want {
		return maxClients, rl.Cur
	}
	return max(int(rl.Cur)-reservedFDs, 1), rl.Cur
}

// maxClientsRefusal is Redis's reason for refusing CONFIG SET maxclients
// n, "" if the open-files limit (raised if it must be) has room for n.
// Redis checks at CONFIG SET as at start, so a client learns at once that
// the new maxclients could not be honoured.
func maxClientsRefusal(n int) string {
	if most, _ := clientsFit(n); most < n {
		return "The operating system is not able to handle the specified number of clients, try with " + strconv.Itoa(most)
	}
	return ""
}

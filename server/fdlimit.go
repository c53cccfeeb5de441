package server

import (
	"log/slog"
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
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return maxClients
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
		return maxClients
	}
	reduced := max(int(rl.Cur)-reservedFDs, 1)
	log.Warn("maxclients reduced: the open-files limit leaves too few file descriptors (raise it with ulimit -n or LimitNOFILE)",
		"maxclients", maxClients, "reduced_to", reduced, "open_files_limit", rl.Cur, "needs", want)
	return reduced
}

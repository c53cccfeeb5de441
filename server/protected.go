package server

import (
	"net"
	"strings"
)

// Protected mode, as Redis has it: a node with no password lets in only
// clients on the loopback interface, so one started with the defaults
// (every interface, no password) is not open to the network by accident.
// Others get Redis's -DENIED explanation and are disconnected.

// deniedReply is Redis 7's text with statehouse's names.
const deniedReply = "-DENIED statehouse is running in protected mode because protected mode is enabled and no password is set " +
	"for the default user. In this mode connections are only accepted from the loopback interface. If you want to " +
	"connect from external computers to statehouse you may adopt one of the following solutions: 1) Set up an " +
	"authentication password for the default user (--requirepass, the same on every node). 2) If you started the " +
	"node just for testing, restart it with the '--protected-mode no' option, and MAKE SURE it is not publicly " +
	"accessible from the internet. NOTE: You only need to do one of the above things in order for statehouse to " +
	"start accepting connections from the outside.\r\n"

// denied reports whether protected mode turns away a client at addr.
func (s *Server) denied(addr string) bool {
	if !s.cfg.ProtectedMode || !s.users().users["default"].NoPass {
		return false
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.TrimPrefix(host, "::ffff:")
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

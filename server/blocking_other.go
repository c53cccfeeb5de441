//go:build !unix

package server

import "net"

// socketAtEOF cannot peek here: a blocked client's disconnect is noticed
// at its timeout or when an attempt serves it.
func socketAtEOF(net.Conn) bool { return false }

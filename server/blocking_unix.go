//go:build unix

package server

import (
	"errors"
	"net"
	"syscall"
)

// socketAtEOF peeks at c's socket without waiting: true if the peer has
// closed it (a read would return end of file) or it is closed here.
func socketAtEOF(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil:
			gone = n == 0
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EINTR):
		default:
			gone = true
		}
		return true // never wait for the socket to be readable
	})
	return gone || err != nil
}

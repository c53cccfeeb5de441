// Package resp is statehouse's one RESP (Redis serialization protocol)
// vocabulary: append-helpers that write replies into the caller's buffer
// without allocating of their own (in the style of tidwall/redcon's
// AppendBulk), the argument parsers every command shares, and a splitter
// for replies already encoded. Both fsm and server use it; nothing here
// knows about either.
//
// Rules: helpers append to b and return it, never keep it; errors start
// with their code (ERR, WRONGTYPE...) and are made one line.
package resp

package cluster

import (
	"bytes"
	"errors"
	"testing"
)

// The reply layout every version speaks: [status u8][index u64 BE][body].
func TestPeerReplyWireFormat(t *testing.T) {
	r := peerReply{status: stNotApplied, index: 0x0102030405060708, body: []byte("+OK\r\n")}
	want := []byte{stNotApplied, 1, 2, 3, 4, 5, 6, 7, 8, '+', 'O', 'K', '\r', '\n'}
	got := r.encode()
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded %v, want %v", got, want)
	}
	back, err := decodePeerReply(got)
	if err != nil || back.status != r.status || back.index != r.index || !bytes.Equal(back.body, r.body) {
		t.Fatalf("decoded %+v, %v; want %+v", back, err, r)
	}
	if got := (peerReply{status: stOK, index: 9}).encode(); !bytes.Equal(got, []byte{0, 0, 0, 0, 0, 0, 0, 0, 9}) {
		t.Fatalf("bodiless reply %v", got)
	}
	for _, short := range [][]byte{nil, {stUnknown}, make([]byte, 8)} {
		if _, err := decodePeerReply(short); !errors.Is(err, errShortReply) {
			t.Fatalf("decode %v: %v, want errShortReply", short, err)
		}
	}
}

// Every status maps to its cluster error and back.
func TestPeerReplyStatus(t *testing.T) {
	for _, err := range []error{nil, ErrNoLeader, ErrNotApplied, ErrUnknownOutcome, ErrLoading, ErrReadOnly, ErrRefused} {
		if got := errOf(statusOf(err)); got != err {
			t.Errorf("errOf(statusOf(%v)) = %v", err, got)
		}
	}
	if got := errOf(statusOf(ErrShutdown)); got != ErrUnknownOutcome {
		t.Errorf("shutdown maps to %v, want ErrUnknownOutcome", got)
	}
}

// A batch of published messages decodes as it was encoded; a malformed
// one is refused whole, never read past its end.
func TestPublishedBatchCodec(t *testing.T) {
	var b []byte
	in := []Published{{Channel: []byte("a"), Message: []byte("1")}, {Shard: true, Channel: []byte("s"), Message: nil}}
	for _, m := range in {
		b = appendPublished(b, m)
	}
	var out []Published
	if err := decodePublished(b, func(m Published) { out = append(out, m) }); err != nil || len(out) != 2 ||
		string(out[0].Channel) != "a" || string(out[0].Message) != "1" || !out[1].Shard || string(out[1].Channel) != "s" {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	for _, bad := range [][]byte{{2, 1, 'a', 0}, {0, 9, 'a'}, {0, 1, 'a', 5, 'x'}, {0}} {
		if err := decodePublished(bad, func(Published) {}); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

func storeRoundTrip(t *testing.T, dir string, noSync bool, wantKind string) {
	t.Helper()
	s, kind, err := openLogStore(dir, noSync, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if kind != wantKind {
		t.Fatalf("store = %s, want %s", kind, wantKind)
	}
	last, _ := s.LastIndex()
	logs := []*raft.Log{{Index: last + 1, Term: 1, Type: raft.LogCommand, Data: []byte("a")}, {Index: last + 2, Term: 1, Type: raft.LogCommand, Data: []byte("b")}}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, kind, err = openLogStore(dir, noSync, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if kind != wantKind {
		t.Fatalf("reopened store = %s, want %s", kind, wantKind)
	}
	var l raft.Log
	if err := s.GetLog(last+2, &l); err != nil || string(l.Data) != "b" {
		t.Fatalf("log %d after reopen: %q, %v", last+2, l.Data, err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("term after reopen: %d, %v", v, err)
	}
}

// A new data dir gets raft-wal, with and without fsync, and keeps what it
// stored across a reopen.
func TestNewDataDirUsesWAL(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		storeRoundTrip(t, dir, noSync, "raft-wal")
		if _, err := os.Stat(filepath.Join(dir, boltLogName)); err == nil {
			t.Fatal("raft.db created in a new data dir")
		}
	}
}

// A data dir written by raft-boltdb keeps using it: its log, term and vote
// are there, and a node must not start over on an empty WAL beside it.
func TestBoltDataDirKeepsBolt(t *testing.T) {
	dir := t.TempDir()
	old, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, boltLogName), BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.StoreLog(&raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	storeRoundTrip(t, dir, false, "raft-boltdb")
	if _, err := os.Stat(filepath.Join(dir, walDirName)); err == nil {
		t.Fatal("wal dir created beside raft.db")
	}
}

// A second store on a data dir in use fails at once with a clear error.
func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	s, _, err := openLogStore(dir, false, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := openLogStore(dir, false, hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v, want in use", err)
	}
	s.Close()
	s, _, err = openLogStore(dir, false, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s.Close()
}

// Raft truncates the log's tail when a new leader overrides entries this
// node appended but never committed. raft-wal v0.4.0 sealed the segment
// without its index block there, and a node killed afterwards could never
// start again ("sealed segment has no index block", found by jepsen-lite's
// kill nemesis). The child process stores, truncates, stores again and
// exits without closing anything, as kill -9 would leave it.
func TestTailTruncateThenCrash(t *testing.T) {
	if dir := os.Getenv("STATEHOUSE_TEST_CRASH_DIR"); dir != "" {
		s, _, err := openLogStore(dir, false, hclog.NewNullLogger())
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(2)
		}
		var logs []*raft.Log
		for i := uint64(1); i <= 10; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte{byte(i)}})
		}
		must := func(err error) {
			if err != nil {
				fmt.Println(err)
				os.Exit(2)
			}
		}
		must(s.StoreLogs(logs))
		must(s.DeleteRange(9, 10)) // the tail a new leader overrides
		must(s.StoreLogs([]*raft.Log{{Index: 9, Term: 2, Type: raft.LogCommand, Data: []byte{90}}}))
		os.Exit(0) // no Close: as if killed
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestTailTruncateThenCrash$")
	cmd.Env = append(os.Environ(), "STATEHOUSE_TEST_CRASH_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writer process: %v\n%s", err, out)
	}
	s, _, err := openLogStore(dir, false, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	for i := uint64(1); i <= 9; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			t.Fatalf("log %d after crash: %v", i, err)
		}
		if want := byte(i); i == 9 && (l.Term != 2 || l.Data[0] != 90) || i < 9 && l.Data[0] != want {
			t.Fatalf("log %d after crash: term %d data %v", i, l.Term, l.Data)
		}
	}
	if last, _ := s.LastIndex(); last != 9 {
		t.Fatalf("last index after crash = %d, want 9", last)
	}
}

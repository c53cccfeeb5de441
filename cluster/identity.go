package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// A node's id is kept in its data dir (DIR/node-id) from its first start.
// Raft knows a member only by its id: a node restarted on the same data dir
// under another name (a new hostname, a changed --node-id) is a stranger to
// its own configuration, never votes or leads, and can leave its cluster
// without a quorum. So a start under another name is refused.

// idFileName is the file in the data dir that holds the node's id.
const idFileName = "node-id"

// IdentityError is a start refused because the data dir belongs to another
// node id than the one given.
type IdentityError struct {
	DataDir string
	Stored  string // the id the data dir keeps
	Given   string // the id this start asked for
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("data dir %s belongs to node %q (its %s file), not %q: "+
		"start it as %q (or without a node id), or give %q a data dir of its own",
		e.DataDir, e.Stored, idFileName, e.Given, e.Stored, e.Given)
}

// NodeID is the id a node on dataDir runs as. The id its data dir keeps
// wins; given, if not empty, must equal it. A data dir that keeps none
// takes given; without one, a data dir that holds Raft state (made before
// statehouse kept ids) takes the id those versions defaulted to, the
// hostname, and a new data dir the hostname if it is a tidy id
// (letters, digits, '.', '_', '-'), else a random "statehouse-xxxxxxxx".
// It only reads: Open keeps the id in the data dir.
func NodeID(dataDir, given string) (string, error) {
	if given != "" {
		if err := checkID(given); err != nil {
			return "", err
		}
	}
	stored, err := readNodeID(dataDir)
	switch {
	case err != nil:
		return "", err
	case stored != "" && given != "" && stored != given:
		return "", &IdentityError{DataDir: dataDir, Stored: stored, Given: given}
	case stored != "":
		return stored, nil
	case given != "":
		return given, nil
	}
	host, _ := os.Hostname()
	if hasRaftFiles(dataDir) {
		if host == "" {
			host = "statehouse" // what those versions fell back to
		}
		return host, nil
	}
	if tidyID(host) {
		return host, nil
	}
	return randomNodeID()
}

// checkID refuses an id that cannot be kept on one line of the id file.
func checkID(id string) error {
	if strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return fmt.Errorf("node id %q has control characters", id)
	}
	return nil
}

// tidyID reports whether a hostname makes a good default id: one that
// --initial-cluster lists and a shell passes as it is.
func tidyID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func randomNodeID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "statehouse-" + hex.EncodeToString(b[:]), nil
}

// hasRaftFiles reports whether dir holds a Raft log or snapshots, without
// opening them (NodeID runs before the data dir is locked).
func hasRaftFiles(dir string) bool {
	for _, name := range []string{walDirName, boltLogName, "snapshots"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// readNodeID returns the id dir keeps, "" if it keeps none.
func readNodeID(dir string) (string, error) {
	path := filepath.Join(dir, idFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	id := strings.TrimSuffix(string(b), "\n")
	if id == "" || checkID(id) != nil {
		return "", fmt.Errorf("%s does not hold a node id (%q): put the node's id in it, or remove it to start with --node-id", path, b)
	}
	return id, nil
}

// writeNodeID keeps id in dir: written to a temporary file, synced and
// renamed over the old name, then the directory synced, so a crash leaves
// either no file or the whole id.
func writeNodeID(dir, id string) (err error) {
	f, err := os.CreateTemp(dir, idFileName+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.WriteString(id + "\n"); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, idFileName)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// identity keeps the node's id in its data dir, or refuses the start if
// the data dir belongs to another id. It runs with the data dir locked and
// its Raft state read.
func (o *opening) identity() error {
	n, cfg := o.n, o.n.cfg
	if err := checkID(cfg.NodeID); err != nil {
		return err
	}
	stored, err := readNodeID(cfg.DataDir)
	if err != nil {
		return err
	}
	if stored != "" && stored != cfg.NodeID {
		return &IdentityError{DataDir: cfg.DataDir, Stored: stored, Given: cfg.NodeID}
	}
	if stored != "" {
		return nil
	}
	if err := writeNodeID(cfg.DataDir, cfg.NodeID); err != nil {
		return fmt.Errorf("keep the node id in the data dir: %w", err)
	}
	if o.existing {
		n.log.Info("data dir made by an older statehouse: its node id is now kept in it",
			"file", filepath.Join(cfg.DataDir, idFileName))
	} else {
		n.log.Info("node id kept in the data dir", "file", filepath.Join(cfg.DataDir, idFileName))
	}
	return nil
}

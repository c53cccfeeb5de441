package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// The ACL file (--aclfile), in Redis's format: one "user <name> <rules>"
// per line. The users live in the log, not in the file: ACL LOAD on any
// node replaces every user of the cluster with the file's, ACL SAVE writes
// the users to this node's file, and a cluster whose users no ACL command
// ever changed takes its first users from the file by itself (so a file
// given to every node seeds a new cluster).

// aclFileSeedInterval: how often a node with --aclfile tries to seed the
// users of a cluster that has none, until it or another node has.
const aclFileSeedInterval = time.Second

// parseACLFile reads an ACL file into the op that replaces every user with
// its users: passwords in clear become their hashes, and a file without a
// default user gets the implicit one.
func (s *Server) parseACLFile(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	op := [][]byte{[]byte("__acl_replace")}
	seen := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words := strings.Fields(line)
		if words[0] != "user" || len(words) < 2 {
			return nil, fmt.Errorf("%s:%d: should start with user keyword", path, i+1)
		}
		name := words[1]
		if seen[name] {
			return nil, fmt.Errorf("%s:%d: Duplicate user '%s' found", path, i+1, name)
		}
		seen[name] = true
		u := fsm.NewACLUser(name)
		rules := make([]string, 0, len(words)-2)
		for _, r := range words[2:] {
			if err := u.Apply(r, s.table); err != nil {
				return nil, fmt.Errorf("%s:%d: %s. Error in user declaration '%s'", path, i+1, err, name)
			}
			rules = append(rules, hashedRule(r))
		}
		op = appendUserRules(op, name, rules)
	}
	if !seen["default"] {
		op = appendUserRules(op, "default", fsm.DefaultACLRules(*s.password.Load()))
	}
	return op, nil
}

func appendUserRules(op [][]byte, name string, rules []string) [][]byte {
	op = append(op, []byte(name), []byte(fmt.Sprint(len(rules))))
	for _, r := range rules {
		op = append(op, []byte(r))
	}
	return op
}

// hashedRule is a rule as it may go to the log: a password as its hash.
func hashedRule(rule string) string {
	switch {
	case strings.HasPrefix(rule, ">"):
		return "#" + fsm.HashPassword(rule[1:])
	case strings.HasPrefix(rule, "<"):
		return "!" + fsm.HashPassword(rule[1:])
	}
	return rule
}

const errNoACLFile = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

func aclLoadCmd(p *pipeline, args [][]byte) {
	path := p.s.cfg.ACLFile
	if path == "" {
		p.reply(resp.AppendError(nil, errNoACLFile))
		return
	}
	op, err := p.s.parseACLFile(path)
	if err != nil {
		p.reply(resp.AppendError(nil, "ERR "+err.Error()))
		return
	}
	p.aclWrite(op)
	p.s.log.Info("ACL users replaced by the ACL file", "file", path, "client", p.st.addr)
}

func aclSaveCmd(p *pipeline, args [][]byte) {
	path := p.s.cfg.ACLFile
	if path == "" {
		p.reply(resp.AppendError(nil, errNoACLFile))
		return
	}
	if err := p.barrier(); err != nil {
		p.reply(errorReply(err))
		return
	}
	us := p.s.users()
	var b bytes.Buffer
	for _, n := range us.names() {
		b.WriteString("user " + us.users[n].Describe(p.s.table) + "\n")
	}
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		p.s.log.Warn("ACL SAVE failed", "file", path, "err", err)
		p.reply(resp.AppendError(nil, "ERR There was an error trying to save the ACLs. Please check the server logs for more information"))
		return
	}
	p.reply(resp.AppendOK(nil))
}

// writeFileAtomic replaces path with data, readable by its owner only
// (it holds password hashes).
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// seedACLFile gives a cluster whose users were never changed the users of
// the ACL file, retrying until it or another node has. A file that does
// not parse is reported once and not retried.
func (s *Server) seedACLFile() {
	if s.cfg.ACLFile == "" {
		return
	}
	op, err := s.parseACLFile(s.cfg.ACLFile)
	if err != nil {
		s.log.Error("the ACL file cannot be loaded: users are not taken from it", "file", s.cfg.ACLFile, "err", err)
		return
	}
	op[0] = []byte("__acl_seed") // applied only while the users were never changed
	t := time.NewTicker(aclFileSeedInterval)
	defer t.Stop()
	for {
		if err := s.barrierNow(); err == nil && s.fsm.ACLRev() != 0 {
			return // the cluster has users: ACL LOAD replaces them
		}
		if reply, _, err := s.propose(fsm.Request{Ops: []fsm.Op{{Args: op}}}); err == nil {
			if bytes.HasPrefix(reply, []byte("+")) {
				s.log.Info("ACL users taken from the ACL file", "file", s.cfg.ACLFile)
			}
			return // seeded, by this node or another
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

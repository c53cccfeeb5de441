package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
)

// The operator's commands: the binary talks to a running node over RESP
// (RAFT STATUS, RAFT TRANSFER-LEADER, RAFT REMOVE), so they need no shell
// or redis-cli in the container, and health's exit status is a container
// health check.
var operatorCommands = map[string]string{
	"members":         "list the cluster's servers: voter, leader, reachable, applied, lag, health",
	"status":          "this node's state, the leader, term and indexes, and the servers",
	"transfer-leader": "hand leadership to NODE, or to the most up-to-date voter",
	"remove":          "take NODE out of the cluster",
	"health":          "exit 0 if the node answers and knows a leader, else 1",
}

func isOperatorCommand(arg string) bool {
	_, ok := operatorCommands[arg]
	return ok
}

// runOperator runs one operator command and returns the exit status.
func runOperator(args []string, stdout, stderr io.Writer) int {
	name := args[0]
	fs := flag.NewFlagSet("statehouse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("STATEHOUSE_ADDR", "127.0.0.1:6379"), "RESP address of a node (env STATEHOUSE_ADDR)")
	password := fs.String("password", os.Getenv("STATEHOUSE_PASSWORD"), "password for AUTH (env STATEHOUSE_PASSWORD)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		arg := ""
		switch name {
		case "transfer-leader":
			arg = " [NODE]"
		case "remove":
			arg = " NODE"
		}
		fmt.Fprintf(stderr, "Usage: statehouse %s [flags]%s\n\n%s\n\n", name, arg, operatorCommands[name])
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	rest := fs.Args()
	if (name == "remove" && len(rest) != 1) || (name == "transfer-leader" && len(rest) > 1) ||
		(name != "remove" && name != "transfer-leader" && len(rest) > 0) {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	redis.SetLogger(silentLog{}) // errors are reported once, below, not by the pool
	op := &operator{password: *password, out: stdout, errs: stderr, timeout: *timeout}
	var err error
	switch name {
	case "members":
		err = op.members(ctx, *addr, false)
	case "status":
		err = op.members(ctx, *addr, true)
	case "transfer-leader":
		err = op.do(ctx, *addr, append([]any{"RAFT", "TRANSFER-LEADER"}, anys(rest)...))
		if err == nil {
			err = op.waitNewLeader(ctx, *addr)
		}
	case "remove":
		err = op.do(ctx, *addr, []any{"RAFT", "REMOVE", rest[0]})
		if err == nil {
			fmt.Fprintf(stdout, "removed %s\n", rest[0])
		}
	case "health":
		err = op.health(ctx, *addr)
		if err == nil {
			fmt.Fprintln(stdout, "ok")
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "statehouse %s: %v\n", name, err)
		return 1
	}
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

type operator struct {
	timeout  time.Duration
	password string
	out      io.Writer
	errs     io.Writer
}

type silentLog struct{}

func (silentLog) Printf(context.Context, string, ...any) {}

func (o *operator) client(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: o.password, Protocol: 2,
		MaxRetries: -1, DisableIdentity: true, ReadTimeout: o.timeout, WriteTimeout: o.timeout})
}

// raftStatus is RAFT STATUS's reply: its fields and its servers.
type raftStatus struct {
	fields  map[string]string
	servers []map[string]string
}

func (o *operator) status(ctx context.Context, addr string) (raftStatus, error) {
	c := o.client(addr)
	defer c.Close()
	v, err := c.Do(ctx, "RAFT", "STATUS").Slice()
	if err != nil {
		return raftStatus{}, fmt.Errorf("%s: %w", addr, err)
	}
	st := raftStatus{fields: map[string]string{}}
	for i := 0; i+1 < len(v); i += 2 {
		k := fmt.Sprint(v[i])
		if k == "servers" {
			list, _ := v[i+1].([]any)
			for _, s := range list {
				fields, _ := s.([]any)
				m := map[string]string{}
				for j := 0; j+1 < len(fields); j += 2 {
					m[fmt.Sprint(fields[j])] = fmt.Sprint(fields[j+1])
				}
				st.servers = append(st.servers, m)
			}
			continue
		}
		st.fields[k] = fmt.Sprint(v[i+1])
	}
	return st, nil
}

// members prints the servers, asking the leader when it is not addr (it
// alone knows their health); with self, this node's own fields first.
func (o *operator) members(ctx context.Context, addr string, self bool) error {
	st, err := o.status(ctx, addr)
	if err != nil {
		return err
	}
	if self {
		for _, k := range []string{"node", "state", "leader", "leader_addr", "term", "commit_index", "applied_index", "last_index"} {
			fmt.Fprintf(o.out, "%-19s %s\n", k+":", st.fields[k])
		}
	}
	if st.fields["state"] != "Leader" && st.fields["leader_addr"] != "" {
		if ls, err := o.status(ctx, st.fields["leader_addr"]); err == nil {
			st.servers = ls.servers
			st.fields["failure_tolerance"] = ls.fields["failure_tolerance"]
		} else {
			fmt.Fprintf(o.errs, "(health is known to the leader, at %s, which does not answer from here: %v)\n",
				st.fields["leader_addr"], err)
		}
	}
	if self {
		fmt.Fprintf(o.out, "%-19s %s\n\n", "failure_tolerance:", st.fields["failure_tolerance"])
	}
	sort.Slice(st.servers, func(i, j int) bool { return st.servers[i]["id"] < st.servers[j]["id"] })
	w := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCLIENT\tPEER\tROLE\tREACHABLE\tAPPLIED\tLAG\tHEALTHY\tLAST CONTACT")
	for _, s := range st.servers {
		role := "non-voter"
		if s["leader"] == "1" {
			role = "leader"
		} else if s["voter"] == "1" {
			role = "voter"
		}
		healthy, contact := "-", "-"
		if h, ok := s["healthy"]; ok {
			healthy, contact = yesNo(h), s["last_contact_ms"]+"ms"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s["id"], s["client"], s["peer"], role,
			yesNo(s["reachable"]), s["applied"], s["lag"], healthy, contact)
	}
	return w.Flush()
}

func yesNo(v string) string {
	if v == "1" {
		return "yes"
	}
	return "no"
}

// do sends one command to the node at addr (which asks the leader if it
// is not the leader itself).
func (o *operator) do(ctx context.Context, addr string, cmd []any) error {
	c := o.client(addr)
	defer c.Close()
	return c.Do(ctx, cmd...).Err()
}

func (o *operator) waitNewLeader(ctx context.Context, addr string) error {
	for {
		st, err := o.status(ctx, addr)
		if err == nil && st.fields["leader"] != "" {
			fmt.Fprintf(o.out, "leader: %s (%s)\n", st.fields["leader"], st.fields["leader_addr"])
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no leader after the transfer: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (o *operator) health(ctx context.Context, addr string) error {
	st, err := o.status(ctx, addr)
	if err != nil {
		return err
	}
	if st.fields["leader"] == "" {
		return fmt.Errorf("%s (%s) knows no leader", st.fields["node"], strings.ToLower(st.fields["state"]))
	}
	return nil
}

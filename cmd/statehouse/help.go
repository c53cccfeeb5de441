package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errDone: parseFlags printed what was asked (--help, --version); exit 0.
var errDone = errors.New("done")

// commandFlags are the flags of the command line alone: no environment
// twin, no config file setting.
func commandFlags(fs *flag.FlagSet) (version, helpDebug *bool) {
	return fs.Bool("version", false, "print the version and exit"),
		fs.Bool("help-debug", false, "list the DEBUG fault-injection flags and exit")
}

// commandOnly reports whether a flag belongs to the command line alone
// (commandFlags).
func commandOnly(name string) bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	commandFlags(fs)
	return fs.Lookup(name) != nil
}

// usage prints the flags, or with debug only the DEBUG fault-injection
// flags, which the ordinary help leaves out: they break what statehouse
// promises and exist for the fault-injection harness.
func usage(w io.Writer, debug bool) {
	all := newFlagSet(&options{})
	show := flag.NewFlagSet("statehouse", flag.ContinueOnError)
	show.SetOutput(w)
	all.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "debug-") == debug {
			show.Var(f.Value, f.Name, f.Usage)
		}
	})
	if debug {
		fmt.Fprint(w, "DEBUG fault-injection flags: each breaks what statehouse promises, to show that\n"+
			"the fault-injection harness (jepsen-lite) catches it. Never on real data.\n\n")
	} else {
		commandFlags(show)
		fmt.Fprint(w, "Usage: statehouse [flags] [config-file]\n"+
			"       statehouse members|status|transfer-leader|remove|health [--addr host:port]\n"+
			"         (the operator's commands, talking to a node; statehouse members --help)\n"+
			"       statehouse import --from redis://host:port[/db] [--addr host:port] [--follow]\n"+
			"         (copy a running Redis into the cluster; statehouse import --help)\n\n"+
			"Every flag has an environment twin (--peer-port is STATEHOUSE_PEER_PORT) and a\n"+
			"config file setting of the same name (\"peer-port 16379\", one a line, as in\n"+
			"redis.conf). The command line wins over the environment, which wins over the\n"+
			"config file.\n\n")
	}
	show.PrintDefaults()
}

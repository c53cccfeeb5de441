package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/importer"
)

// runImport is `statehouse import`: copy a running Redis into the cluster
// (package importer), and report what it did. Exit status 0 when every key
// was copied and the compared values agree, 1 otherwise.
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("statehouse import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", os.Getenv("STATEHOUSE_IMPORT_FROM"), "the source: redis://[user:pass@]host:port[/db] or rediss://... (env STATEHOUSE_IMPORT_FROM)")
	addr := fs.String("addr", envOr("STATEHOUSE_ADDR", "127.0.0.1:6379"), "RESP address of a statehouse node (env STATEHOUSE_ADDR)")
	user := fs.String("user", os.Getenv("STATEHOUSE_USER"), "statehouse ACL user (env STATEHOUSE_USER)")
	password := fs.String("password", os.Getenv("STATEHOUSE_PASSWORD"), "statehouse password (env STATEHOUSE_PASSWORD)")
	stateFile := fs.String("state", os.Getenv("STATEHOUSE_IMPORT_STATE"), "state file: where the scan stands, to resume an interrupted import (env STATEHOUSE_IMPORT_STATE)")
	follow := fs.Bool("follow", envBool("STATEHOUSE_IMPORT_FOLLOW"), "after the copy, keep copying the source's changes until interrupted (env STATEHOUSE_IMPORT_FOLLOW)")
	batch := fs.Int("batch", envInt("STATEHOUSE_IMPORT_BATCH", 500), "keys per SCAN and per pipeline (env STATEHOUSE_IMPORT_BATCH)")
	verify := fs.Int("verify", envInt("STATEHOUSE_IMPORT_VERIFY", 1000), "keys whose values are compared at the end; -1 every key, 0 none (env STATEHOUSE_IMPORT_VERIFY)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: statehouse import --from redis://host:port[/db] [flags]\n\n"+
			"Copy every key of a running Redis, with its remaining TTL, into a running\n"+
			"statehouse cluster (DUMP/PTTL there, RESTORE ... ABSTTL REPLACE here).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	redis.SetLogger(silentLog{})
	res, err := importer.Run(ctx, importer.Config{
		From: *from, To: &redis.Options{Addr: *addr, Username: *user, Password: *password, Protocol: 2, DisableIdentity: true},
		StateFile: *stateFile, Follow: *follow, Batch: *batch, Verify: *verify, Progress: stderr,
	})
	if res != nil {
		report(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "statehouse import: %v\n", err)
		return 1
	}
	if len(res.Failed) > 0 || len(res.Mismatched) > 0 {
		return 1
	}
	return 0
}

func report(w io.Writer, r *importer.Result) {
	fmt.Fprintf(w, "copied %d keys, deleted %d\n", r.Copied, r.Deleted)
	if r.Libraries > 0 {
		fmt.Fprintf(w, "copied %d function libraries\n", r.Libraries)
	}
	if r.LibrariesNote != "" {
		fmt.Fprintf(w, "function libraries %s\n", r.LibrariesNote)
	}
	var errs []string
	for e := range r.Failed {
		errs = append(errs, e)
	}
	sort.Strings(errs)
	for _, e := range errs {
		fmt.Fprintf(w, "failed %d keys: %s\n", r.Failed[e], e)
	}
	fmt.Fprintf(w, "keys: source %d, statehouse %d\n", r.SourceKeys, r.TargetKeys)
	if r.Verified > 0 {
		fmt.Fprintf(w, "values compared: %d keys, source digest %s, statehouse digest %s\n", r.Verified, r.SourceDigest, r.TargetDigest)
		for _, k := range r.Mismatched {
			fmt.Fprintf(w, "differs: %q\n", k)
		}
	}
}

func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/client"
	"github.com/statehouse/statehouse/client/session"
)

// keyEnv carries the session signing key (hex) to the web servers; an
// environment variable, so it does not show in ps.
const keyEnv = "WEBSHOP_SESSION_KEY"

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "web":
		err = runWeb(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "proxy":
		err = runProxy(os.Args[2:])
	default:
		err = runAll(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webshop:", err)
		os.Exit(1)
	}
}

// runWeb is one web server: `webshop web --addr A --name N --store a,b,c`.
// The store's password, if it has one, is STATEHOUSE_PASSWORD.
func runWeb(args []string) error {
	fs := flag.NewFlagSet("webshop web", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "address to serve on")
	name := fs.String("name", "web-1", "this web server's name, shown on every page")
	store := fs.String("store", "127.0.0.1:6390", "statehouse nodes, comma-separated (one is enough)")
	addrMap := fs.String("addr-map", "", "announced=reachable,... : node addresses the cluster announces and where this web server reaches them (client.WithAddrMap)")
	insecure := fs.Bool("insecure-cookie", true, "leave Secure off the session cookie: the demo serves plain HTTP")
	fs.Parse(args)
	amap := map[string]string{}
	for _, pair := range strings.Split(*addrMap, ",") {
		if from, to, ok := strings.Cut(pair, "="); ok {
			amap[from] = to
		}
	}
	key, err := hex.DecodeString(os.Getenv(keyEnv))
	if err != nil || len(key) < 32 {
		return fmt.Errorf("%s must hold a hex key of at least 32 bytes", keyEnv)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	startCtx, startCancel := context.WithTimeout(ctx, time.Minute)
	defer startCancel()
	c, err := client.New(startCtx, strings.Split(*store, ","),
		client.WithAddrMap(func(a string) string {
			if to, ok := amap[a]; ok {
				return to
			}
			return a
		}),
		client.WithRedisOptions(func(o *redis.Options) { o.Password = os.Getenv("STATEHOUSE_PASSWORD") }))
	if err != nil {
		return err
	}
	defer c.Close()
	m, err := session.New(c, session.Options{
		Keys:   [][]byte{key},
		Cookie: session.Cookie{Name: "webshop_session", Insecure: *insecure},
	})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *addr, Handler: newShop(*name, m), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	slog.Info("web server up", "name", *name, "addr", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runProxy is the round-robin proxy alone: `webshop proxy --addr A
// --backends a,b`.
func runProxy(args []string) error {
	fs := flag.NewFlagSet("webshop proxy", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to serve on")
	backends := fs.String("backends", "127.0.0.1:8081,127.0.0.1:8082", "web servers, comma-separated")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	srv := &http.Server{Addr: *addr, Handler: newProxy(strings.Split(*backends, ",")), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	slog.Info("proxy up", "addr", *addr, "backends", *backends)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runAll starts the whole story on loopback: three statehouse nodes, the
// web servers (child processes of this binary) and the proxy (here).
func runAll(args []string) error {
	fs := flag.NewFlagSet("webshop", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "the proxy's address: open it in a browser")
	webs := fs.String("web", "127.0.0.1:8081,127.0.0.1:8082", "web servers' addresses, comma-separated")
	ports := fs.String("store-ports", "6390,6391,6392", "client ports of the three statehouse nodes (peer ports are these + 10000)")
	bin := fs.String("statehouse", "", "the statehouse binary (default: statehouse on PATH, else built from this module)")
	fs.Parse(args)

	dir, err := os.MkdirTemp("", "webshop")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *bin == "" {
		if *bin, err = findStatehouse(dir); err != nil {
			return err
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	// go-redis logs each refused dial while the nodes start: noise here.
	redis.SetLogger(quietLogger{})

	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}()
	start := func(name string, env []string, path string, args ...string) error {
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			return err
		}
		cmd := exec.Command(path, args...)
		cmd.Stdout, cmd.Stderr, cmd.Env = logf, logf, append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		fmt.Printf("  %-6s pid %-7d log %s\n", name, cmd.Process.Pid, logf.Name())
		return nil
	}

	// The store: three nodes formed with --initial-cluster.
	secret := make([]byte, 24)
	rand.Read(secret)
	var storeAddrs, initial []string
	for i, p := range strings.Split(*ports, ",") {
		port, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("--store-ports: %w", err)
		}
		storeAddrs = append(storeAddrs, fmt.Sprintf("127.0.0.1:%d", port))
		initial = append(initial, fmt.Sprintf("n%d=127.0.0.1:%d", i+1, port+10000))
	}
	fmt.Println("statehouse nodes:")
	for i, a := range storeAddrs {
		_, port, _ := strings.Cut(a, ":")
		id := fmt.Sprintf("n%d", i+1)
		if err := start(id, []string{"STATEHOUSE_CLUSTER_SECRET=" + hex.EncodeToString(secret)}, *bin,
			"--node-id", id, "--bind", "127.0.0.1", "--port", port, "--data-dir", filepath.Join(dir, id),
			"--initial-cluster", strings.Join(initial, ",")); err != nil {
			return err
		}
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, time.Minute)
	c, err := client.New(waitCtx, storeAddrs)
	waitCancel()
	if err != nil {
		return err
	}
	leader, _ := c.Topology()
	c.Close()

	// The web servers, sharing one signing key.
	key := make([]byte, 32)
	rand.Read(key)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	backends := strings.Split(*webs, ",")
	fmt.Println("web servers:")
	for i, a := range backends {
		name := fmt.Sprintf("web-%d", i+1)
		if err := start(name, []string{keyEnv + "=" + hex.EncodeToString(key), "STATEHOUSE_PASSWORD="}, self,
			"web", "--addr", a, "--name", name, "--store", strings.Join(storeAddrs, ",")); err != nil {
			return err
		}
	}

	srv := &http.Server{Addr: *addr, Handler: newProxy(backends), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Printf(`
the store's leader is %s; the proxy sends requests to %s in turn.
open http://%s/, sign in, add to the cart; then kill a web server or the
store's leader (kill -9 PID above) and reload: the cart and the sign-in stay.
Ctrl-C stops everything.
`, leader, strings.Join(backends, " and "), *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// findStatehouse returns statehouse on PATH, or builds it into dir.
func findStatehouse(dir string) (string, error) {
	if p, err := exec.LookPath("statehouse"); err == nil {
		return p, nil
	}
	p := filepath.Join(dir, "statehouse")
	fmt.Println("building statehouse ...")
	out, err := exec.Command("go", "build", "-o", p, "github.com/statehouse/statehouse/cmd/statehouse").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build statehouse: %v\n%s", err, out)
	}
	return p, nil
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// profileTarget is one server process that serves net/http/pprof.
type profileTarget struct {
	role string // leader, follower-n2...
	url  string // base, ending in /debug/pprof/
}

// profiled is a deployment whose processes can be profiled (statehouse
// started with --profile).
type profiled interface {
	profileTargets(ctx context.Context) []profileTarget
}

// startProfiles asks every target, at once, for a CPU profile and an
// allocation profile covering the next d (pprof's delta profiles), and
// writes them as DIR/NAME-ROLE.{cpu,allocs}.pprof. The returned function
// waits for them and gives the files written and the errors met.
func startProfiles(ctx context.Context, targets []profileTarget, dir, name string, d time.Duration) func() ([]string, []error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		files []string
		errs  []error
	)
	secs := strconv.Itoa(max(1, int(d.Round(time.Second).Seconds())))
	for _, t := range targets {
		for _, kind := range []string{"cpu", "allocs"} {
			path := "profile"
			if kind == "allocs" {
				path = "allocs"
			}
			file := filepath.Join(dir, fmt.Sprintf("%s-%s.%s.pprof", name, t.role, kind))
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := fetchProfile(ctx, t.url+path+"?seconds="+secs, file, d)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s profile: %w", t.role, kind, err))
					return
				}
				files = append(files, file)
			}()
		}
	}
	return func() ([]string, []error) {
		wg.Wait()
		return files, errs
	}
}

func fetchProfile(ctx context.Context, url, file string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

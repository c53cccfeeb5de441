package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	buildMu    sync.Mutex
	builtPaths = map[string]string{}
)

// buildBinary builds cmd/statehouse once into dir (like testcluster.Binary)
// and returns its path. It needs the module's source: run from the checkout.
func buildBinary(dir string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtPaths[dir]; ok {
		return p, nil
	}
	p := filepath.Join(dir, "statehouse")
	cmd := exec.Command("go", "build", "-o", p, "github.com/statehouse/statehouse/cmd/statehouse")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of cmd/statehouse (run jepsen-lite from the statehouse checkout, or pass --bin): %v\n%s", err, out)
	}
	builtPaths[dir] = p
	return p, nil
}

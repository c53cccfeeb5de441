package fsm

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the fsm pure: nothing that reads a clock, a random
// source, the network, the disk or Raft may be imported outside tests.
func TestImports(t *testing.T) {
	banned := []string{"time", "math/rand", "math/rand/v2", "crypto/rand", "net", "os", "os/exec", "syscall", "github.com/hashicorp/raft"}
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/statehouse/statehouse/") && path != "github.com/statehouse/statehouse/internal/resp" {
				t.Errorf("%s imports %s: the fsm depends on nothing of statehouse's but internal/resp", name, path)
			}
			for _, b := range banned {
				if path == b || strings.HasPrefix(path, b+"/") {
					t.Errorf("%s imports %s: the fsm must stay deterministic and free of I/O", name, path)
				}
			}
		}
	}
}

package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// `statehouse import` without --from prints its usage and exits 2; with a
// source nothing listens on it says so and exits 1, copying nothing.
func TestImportCommandErrors(t *testing.T) {
	var out, errs bytes.Buffer
	if code := runImport(nil, &out, &errs); code != 2 || !strings.Contains(errs.String(), "Usage: statehouse import --from") {
		t.Errorf("no --from: exit %d, stderr %q", code, errs.String())
	}
	errs.Reset()
	port := testcluster.FreePort(t)
	code := runImport([]string{"--from", "redis://127.0.0.1:" + strconv.Itoa(port), "--addr", "127.0.0.1:1"}, &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), "statehouse import: source 127.0.0.1:") {
		t.Errorf("unreachable source: exit %d, stderr %q", code, errs.String())
	}
	errs.Reset()
	if code := runImport([]string{"--from", "http://x"}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "--from") {
		t.Errorf("bad URL: exit %d, stderr %q", code, errs.String())
	}
}

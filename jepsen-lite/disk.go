package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The disk-full fault: every node's data dir is a small tmpfs of its own,
// which the fault fills with a file of the harness's until nothing is
// free, and the heal deletes.

const (
	// diskSize is each node's tmpfs under disk-full. A node holds one or
	// two raft-wal segments (preallocated at 64 MiB each: the next one is
	// created before snapshots let the old one go), two snapshots and its
	// meta database; the workloads' data is a few MiB. 256 MiB leaves
	// about 128 MiB free at the busiest.
	diskSize = 256 << 20
	// minFreeDisk is what nodes that have --min-free-disk run with: below
	// the free space a node has at its busiest, above nothing.
	minFreeDisk = "64mb"
	// fillerName is the filler in the data dir: on the node's filesystem,
	// where the node does not look.
	fillerName = "jepsen-lite-disk-full"
)

// supportsFlag reports whether the statehouse binary lists flag in its
// --help (which goes to stderr).
func supportsFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return regexp.MustCompile(`(?m)^\s*--?` + regexp.QuoteMeta(flag) + `\b`).Match(out)
}

// minFreeDiskArgs adds --min-free-disk to the nodes' flags when the
// binary has it (the nodes refuse writes with MISCONF before their disk is
// full) and they do not set it already; older binaries run without it.
func minFreeDiskArgs(bin string, nodeArgs []string) ([]string, string) {
	for _, a := range nodeArgs {
		if strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-") == "min-free-disk" {
			return nodeArgs, "--min-free-disk as --node-args sets it"
		}
	}
	if !supportsFlag(bin, "min-free-disk") {
		return nodeArgs, "this statehouse has no --min-free-disk"
	}
	return append(slices.Clip(nodeArgs), "--min-free-disk", minFreeDisk), "nodes run with --min-free-disk " + minFreeDisk
}

// freeBytes is the space an unprivileged writer could still use on the
// filesystem holding dir.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// fillDisk fills the filesystem holding dir with dir/fillerName until it
// has no space left and returns the filler's size. fallocate takes the
// space at once; zeros appended until ENOSPC take what it left (a node
// freed some meanwhile, or the filesystem cannot fallocate). Root's
// reserved blocks (not on tmpfs) are taken too: a full disk is full for
// a node running as root.
func fillDisk(dir string) (int64, error) {
	path := filepath.Join(dir, fillerName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	if free := int64(st.Bfree) * st.Bsize; free > 0 {
		// ENOSPC here (space taken since Statfs) leaves nothing allocated;
		// the zeros below do the work then.
		syscall.Fallocate(int(f.Fd()), 0, 0, free)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return 0, err
	}
	// Writes of a block are for filesystems that refuse a write whole
	// rather than write what fits.
	zeros := make([]byte, 1<<20)
	for _, chunk := range []int{1 << 20, 4 << 10} {
		for {
			if _, err := f.Write(zeros[:chunk]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					return 0, err
				}
				break
			}
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// freeDisk removes the filler, if any.
func freeDisk(dir string) error {
	err := os.Remove(filepath.Join(dir, fillerName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// mountDisk mounts a tmpfs of size bytes on dir, named by tag so that
// cleanupStale recognises it.
func mountDisk(dir, tag string, size int64) error {
	if err := syscall.Mount(tag, dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV,
		fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// unmountDisk unmounts the tmpfs on dir, its filler removed. Unless the
// run already removed the node's data (a clean run without --keep-data),
// that data would vanish with the tmpfs: it is copied to dir on the disk
// underneath first, where the run leaves data dirs for a look afterwards.
// A mount still busy is detached, so nothing stays mounted.
func unmountDisk(dir string) error {
	var errs []error
	errs = append(errs, freeDisk(dir))
	left, _ := os.ReadDir(dir)
	copied := ""
	if len(left) > 0 {
		copied = dir + ".copy"
		os.RemoveAll(copied)
		if err := run("cp", "-a", "--sparse=always", dir, copied); err != nil {
			errs = append(errs, err)
			copied = ""
		}
	}
	if err := syscall.Unmount(dir, 0); err != nil {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			return errors.Join(append(errs, fmt.Errorf("unmount %s: %w", dir, err))...)
		}
	}
	if copied != "" {
		if err := os.Remove(dir); err != nil {
			errs = append(errs, err)
		} else if err := os.Rename(copied, dir); err != nil {
			errs = append(errs, err)
		}
	} else {
		os.Remove(dir) // empty: nothing kept, as after a clean run
	}
	return errors.Join(errs...)
}

// mountsTagged returns the mount points of the tmpfs mounts whose source
// matches re, with re's first group, from /proc/self/mountinfo.
func mountsTagged(r io.Reader, re *regexp.Regexp) (points, groups []string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 2 || g[0] != "tmpfs" {
			continue
		}
		if m := re.FindStringSubmatch(g[1]); m != nil {
			points = append(points, unescapeMount(f[4]))
			groups = append(groups, m[1])
		}
	}
	return points, groups
}

// unescapeMount undoes mountinfo's octal escapes (\040 is a space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

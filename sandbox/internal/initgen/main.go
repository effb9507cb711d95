// Command initgen builds the standalone sandbox init and its stamp into
// sandbox/initbin, where package sandbox embeds them. It runs from package
// sandbox's folder, as its go:generate line:
//
//	go generate ./sandbox
//
// The binary is built as the release binary is (static, trimmed paths, no
// symbol table) with initstamp.BuildFlags; the stamp names the sources, Go
// version, architecture, build flags and golang.org/x/sys version it was
// built from (package initstamp), so that a sandbox built later from other
// sources or flags does not start it.
package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initstamp"
)

const (
	out     = "initbin/bulwark-sandbox-init"
	stampTo = out + ".stamp"
	src     = "internal/initproc"
)

func main() {
	if err := generate(); err != nil {
		fmt.Fprintln(os.Stderr, "initgen:", err)
		os.Exit(1)
	}
}

func generate() error {
	goarch := os.Getenv("GOARCH")
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	if os.Getenv("GOOS") != "" && os.Getenv("GOOS") != "linux" {
		// The sandbox is Linux only: nothing to build, and a stale
		// binary must not stay behind.
		os.Remove(out)
		os.Remove(stampTo)
		return nil
	}
	tmp := out + ".tmp"
	args := append(append([]string{"build"}, initstamp.BuildFlags...), "-o", tmp, "./"+src+"/standalone")
	build := exec.Command("go", args...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	info, err := buildinfo.ReadFile(tmp)
	if err != nil {
		return err
	}
	stamp, err := initstamp.Of(os.DirFS("."), initstamp.Dirs, info.GoVersion, goarch)
	if err != nil {
		return err
	}
	for _, d := range info.Deps {
		if d.Path == "golang.org/x/sys" {
			stamp += "x/sys " + d.Version + "\n"
		}
	}
	// The stamp goes last: a binary is never taken for fresh under an
	// older one's stamp.
	os.Remove(stampTo)
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	if err := os.WriteFile(stampTo+".tmp", []byte(stamp), 0o644); err != nil {
		return err
	}
	if err := os.Rename(stampTo+".tmp", stampTo); err != nil {
		return err
	}
	abs, _ := filepath.Abs(out)
	fmt.Fprintf(os.Stderr, "initgen: wrote %s\n", abs)
	return nil
}

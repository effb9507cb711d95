package sandbox

import (
	"os"
	"os/exec"
	"testing"
)

// The package builds, with its tests, where there is no sandbox: the CLI
// and the server run there with BULWARK_SANDBOX=off, and Check says why
// there is no sandbox rather than the build failing.
func TestBuildsOffLinux(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the package's dependencies")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	if _, err := os.Stat("../go.mod"); err != nil {
		t.Skip("not run from the package's source folder (the suite run as another user)")
	}
	for _, goos := range []string{"darwin", "freebsd"} {
		cmd := exec.Command("go", "vet", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=arm64", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s go vet: %v\n%s", goos, err, out)
		}
	}
}

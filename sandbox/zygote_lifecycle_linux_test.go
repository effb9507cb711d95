package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The zygote's life beside its host's: killed, stopped, refused, raced.
// Whatever it does, a start runs its command or fails cleanly, and no
// process, zombie or descriptor is left behind.

// until one has started, and skips the test where none can.
func awaitZygote(t *testing.T) int {
	t.Helper()
	if !zygoteHere() {
		t.Skip("no zygote here (not root, or not the standalone init)")
	}
	for i := 0; i < 100; i++ {
		zyg.mu.Lock()
		pid, ctrl, ended := zyg.pid, zyg.ctrl, zyg.ended
		zyg.mu.Unlock()
		if ctrl >= 0 {
			select {
			case <-ended:
			default:
				return pid
			}
		}
		if _, err := Run(context.Background(), Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}, []string{"true"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Skip("no zygote started here")
	return 0
}

// process, on a nil pointer or on a second close of a channel.)
func TestZygoteRequestToADeadZygote(t *testing.T) {
	requireSandbox(t)
	z := awaitZygote(t)
	zyg.mu.Lock()
	ended := zyg.ended
	zyg.mu.Unlock()
	if err := syscall.Kill(z, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ended
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])
	pid, pidfd, g, err := zyg.spawn(uidBase+1, uidBase, pair[1], -1)
	if err != errZygoteOff || pid != 0 || pidfd != -1 || g != nil {
		t.Fatalf("spawn through a dead zygote = %d, %d, %v, %v; want 0, -1, nil, %v", pid, pidfd, g, err, errZygoteOff)
	}
	if _, err := Run(context.Background(), Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}, []string{"true"}); err != nil {
		t.Fatalf("Run after a failed request: %v", err)
	}
}

// once ended this process: see TestZygoteRequestToADeadZygote.)
func TestZygoteRefusedRequest(t *testing.T) {
	requireSandbox(t)
	z := awaitZygote(t)
	zyg.mu.Lock()
	gen := zyg.gen
	zyg.mu.Unlock()
	gen.mu.Lock()
	live := len(gen.known)
	gen.mu.Unlock()
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])
	pid, pidfd, g, err := zyg.spawn(uidBase, uidBase, pair[1], -1)
	if err == nil || err == errZygoteOff || pid != 0 || pidfd != -1 || g != nil {
		t.Fatalf("spawn with overlapping id maps = %d, %d, %v, %v; want a refusal", pid, pidfd, g, err)
	}
	zyg.mu.Lock()
	ctrl, now := zyg.ctrl, zyg.pid
	zyg.mu.Unlock()
	gen.mu.Lock()
	after := len(gen.known)
	gen.mu.Unlock()
	if after != live || ctrl < 0 || now != z {
		t.Errorf("after a refusal: %d inits counted (%d before), control socket %d, zygote %d (%d before)", after, live, ctrl, now, z)
	}
	b := startZygoted(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
	defer b.cleanup()
	if res, err := b.run(context.Background(), []string{"true"}, stdio{}); err != nil || res.ExitCode != 0 {
		t.Errorf("a sandbox after the refusal: %v %+v", err, res)
	}
}

// and are not reaped.
func zombieChildren() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, pid)
		}
	}
	return out
}

// dropSpare ends the spare init, once the sandboxes ended in the
// background (whose ends ask for one) are gone: a spare is a sandbox
// process holding descriptors, which a test counting them must not count.
func dropSpare() {
	teardowns.Wait()
	spares.drop()
}

// openFds counts this process's descriptors.
func openFds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// left open.
func TestZygoteKilledMidStart(t *testing.T) {
	requireSandbox(t)
	spec := Spec{AllowExec: []string{"echo"}, Timeout: 20 * time.Second}
	awaitZygote(t)
	dropSpare()
	fds := openFds(t)
	for i := 0; i < 30; i++ {
		z := awaitZygote(t)
		delay := time.Duration(i%10) * 300 * time.Microsecond
		killed := make(chan struct{})
		go func() {
			time.Sleep(delay)
			syscall.Kill(z, syscall.SIGKILL)
			close(killed)
		}()
		res, err := Run(context.Background(), spec, []string{"echo", "ran"})
		<-killed
		if err != nil || res.ExitCode != 0 || string(res.Stdout) != "ran\n" {
			t.Errorf("a start whose zygote was killed after %v: %v, %+v", delay, err, res)
		}
	}
	// An init forked for an answer that was lost ends once its start has
	// failed (its socket closed), and is reaped.
	deadline := time.Now().Add(10 * time.Second)
	for dropSpare(); len(zombieChildren()) > 0 || len(sandboxProcesses()) > 0 || openFds(t) > fds; dropSpare() {
		if time.Now().After(deadline) {
			t.Fatalf("after zygotes killed mid-start: unreaped children %v, sandbox processes %v, %d descriptors open (%d before)", zombieChildren(), sandboxProcesses(), openFds(t), fds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// with -race).
func TestZygoteConcurrentStarts(t *testing.T) {
	requireSandbox(t)
	awaitZygote(t)
	spec := Spec{AllowExec: []string{"echo"}, Timeout: 20 * time.Second}
	const workers, runs = 4, 6
	var wg sync.WaitGroup
	errs := make(chan string, workers*runs)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < runs; i++ {
				res, err := Run(context.Background(), spec, []string{"echo", strconv.Itoa(w), strconv.Itoa(i)})
				if want := fmt.Sprintf("%d %d\n", w, i); err == nil && (res.ExitCode != 0 || string(res.Stdout) != want) {
					errs <- fmt.Sprintf("run %d of worker %d: %+v", i, w, res)
				}
			}
		}()
	}
	for k := 0; k < 2; k++ {
		time.Sleep(200 * time.Millisecond)
		zyg.mu.Lock()
		z := zyg.pid
		zyg.mu.Unlock()
		syscall.Kill(z, syscall.SIGKILL)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	deadline := time.Now().Add(10 * time.Second)
	for dropSpare(); len(zombieChildren()) > 0 || len(sandboxProcesses()) > 0; dropSpare() {
		if time.Now().After(deadline) {
			t.Fatalf("after concurrent starts: unreaped children %v, sandbox processes %v", zombieChildren(), sandboxProcesses())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reaped, and ends itself; the next starts get a new zygote.
func TestZygoteStalled(t *testing.T) {
	requireSandbox(t)
	z := awaitZygote(t)
	spares.drop() // the Run below asks the zygote
	zyg.mu.Lock()
	ended := zyg.ended
	unix.SetsockoptTimeval(zyg.ctrl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200_000})
	zyg.mu.Unlock()
	if err := syscall.Kill(z, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(z, syscall.SIGCONT)
	res, err := Run(context.Background(), Spec{AllowExec: []string{"echo"}, Timeout: 20 * time.Second}, []string{"echo", "ran"})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "ran\n" {
		t.Fatalf("a start while the zygote is stopped: %v, %+v", err, res)
	}
	syscall.Kill(z, syscall.SIGCONT)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stalled zygote did not end once its socket was closed")
	}
	deadline := time.Now().Add(10 * time.Second)
	for dropSpare(); len(zombieChildren()) > 0 || len(sandboxProcesses()) > 0; dropSpare() {
		if time.Now().After(deadline) {
			t.Fatalf("after a stalled zygote: unreaped children %v, sandbox processes %v", zombieChildren(), sandboxProcesses())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if z2 := awaitZygote(t); z2 == z {
		t.Errorf("the stalled zygote %d still serves", z)
	}
}

// uids, while the zygote stalled).
func TestZygoteStallHoldsNoOtherSandbox(t *testing.T) {
	requireSandbox(t)
	b := startZygoted(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
	defer b.cleanup()
	spares.drop() // the Run below asks the zygote
	zyg.mu.Lock()
	z := zyg.pid
	unix.SetsockoptTimeval(zyg.ctrl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	zyg.mu.Unlock()
	if err := syscall.Kill(z, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(z, syscall.SIGCONT)
	stalled := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}, []string{"true"})
		stalled <- err
	}()
	// The Run waits on the zygote: its request is sent, not answered.
	for i := 0; i < 500 && !waitsOnZygote(); i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if !waitsOnZygote() {
		t.Fatal("the start did not wait on the stopped zygote")
	}
	b.kill()
	<-b.done
	if !waitsOnZygote() {
		t.Error("the killed sandbox's end waited for the stalled zygote's answer")
	}
	if err := <-stalled; err != nil {
		t.Errorf("the start that waited on the stalled zygote: %v", err)
	}
}

// answer (zyg.mu is held).
func waitsOnZygote() bool {
	if zyg.mu.TryLock() {
		zyg.mu.Unlock()
		return false
	}
	return true
}

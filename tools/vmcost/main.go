// Command vmcost measures, in CPU time (user + system, from getrusage),
// what the kernel charges for the things a Bulwark agent turn does most:
// a system call that does nothing, a first touch of a fresh 4 KiB page
// (a minor page fault; also with MADV_HUGEPAGE asked for), and a 4 KiB
// round trip over loopback TCP between two goroutines. On a bare-metal
// Linux host these are about 0.1 us, 0.1 to 0.3 us and a few us; on a VM
// whose guest kernel runs deprivileged they can be ten to forty times
// that, which BENCHMARKS.md needs to know to read `bench agents`.
//
//	go run ./tools/vmcost
package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "vmcost:", err)
		os.Exit(1)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func us(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) / 1000 }

// faults touches every page of a fresh 200 MiB anonymous mapping once and
// returns the CPU per page; huge asks for huge pages first.
func faults(huge bool) (float64, error) {
	const size = 200 << 20
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return 0, err
	}
	defer syscall.Munmap(b)
	if huge {
		if err := syscall.Madvise(b, 14 /* MADV_HUGEPAGE */); err != nil {
			return 0, err
		}
	}
	c0 := cpu()
	for i := 0; i < size; i += 4096 {
		b[i] = 1
	}
	return us(cpu()-c0, size/4096), nil
}

// roundTrip sends 4 KiB over loopback TCP to an echoing goroutine and
// reads it back, n times, and returns the CPU per round trip.
func roundTrip(n int) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 8192)
		for {
			k, err := c.Read(b)
			if err != nil {
				return
			}
			if _, err := c.Write(b[:k]); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	msg, b := make([]byte, 4096), make([]byte, 8192)
	c0 := cpu()
	for range n {
		if _, err := c.Write(msg); err != nil {
			return 0, err
		}
		for got := 0; got < len(msg); {
			k, err := c.Read(b)
			if err != nil {
				return 0, err
			}
			got += k
		}
	}
	return us(cpu()-c0, n), nil
}

func main() {
	const calls = 200000
	c0 := cpu()
	for range calls {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	fmt.Printf("null system call (getppid)      %6.2f us\n", us(cpu()-c0, calls))
	for _, huge := range []bool{false, true} {
		per, err := faults(huge)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vmcost:", err)
			os.Exit(1)
		}
		name := "first touch of a 4 KiB page"
		if huge {
			name += ", huge"
		}
		fmt.Printf("%-32s %6.2f us\n", name, per)
	}
	per, err := roundTrip(20000)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmcost:", err)
		os.Exit(1)
	}
	fmt.Printf("loopback TCP 4 KiB round trip    %6.2f us (both ends)\n", per)
}

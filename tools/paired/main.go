// Command paired times whole processes side by side, for BENCHMARKS.md:
// each round runs every command once, in an order rotated by one each
// round, so that the load of a shared machine falls on all of them alike.
// It prints, per command, the median wall time, the median CPU time of
// the child (user + system), the median of the per-round ratios of wall
// time to the first command's, the ratio of the CPU medians, and the
// median of the child's minor page faults (the bulk of a Go binary's
// start-up on some machines).
//
//	go run ./tools/paired -n 400 ./hello './bulwark version'
//
// Commands are split on spaces; none is run through a shell.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func main() {
	rounds := flag.Int("n", 400, "rounds timed")
	warmup := flag.Int("w", 20, "rounds run first and not timed")
	flag.Parse()
	cmds := flag.Args()
	if len(cmds) < 2 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: paired [-n rounds] [-w warm-up rounds] BASELINE COMMAND...")
		os.Exit(2)
	}
	wall := make([][]float64, len(cmds))
	cpu := make([][]float64, len(cmds))
	faults := make([][]float64, len(cmds))
	for r := range *rounds + *warmup {
		for k := range cmds {
			i := (k + r) % len(cmds)
			f := strings.Fields(cmds[i])
			c := exec.Command(f[0], f[1:]...)
			start := time.Now()
			if err := c.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "paired: %s: %v\n", cmds[i], err)
				os.Exit(1)
			}
			w := time.Since(start)
			if r >= *warmup {
				wall[i] = append(wall[i], w.Seconds()*1e3)
				cpu[i] = append(cpu[i], (c.ProcessState.UserTime()+c.ProcessState.SystemTime()).Seconds()*1e3)
				if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
					faults[i] = append(faults[i], float64(ru.Minflt))
				}
			}
		}
	}
	for i, c := range cmds {
		ratios := make([]float64, len(wall[i]))
		for r := range wall[i] {
			ratios[r] = wall[i][r] / wall[0][r]
		}
		minflt := "-"
		if len(faults[i]) > 0 {
			minflt = fmt.Sprint(median(faults[i]))
		}
		fmt.Printf("%-40s wall %.2f ms  cpu %.2f ms  wall/first %.2fx  cpu/first %.2fx  minflt %s\n",
			c, median(wall[i]), median(cpu[i]), median(ratios), median(cpu[i])/median(cpu[0]), minflt)
	}
}

// Command wanctl keeps an internet link responsive under load by shaping it
// with CAKE on a MikroTik RouterOS v7 router. See README.md.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/wanctl/wanctl/commands"
)

func main() { os.Exit(run()) }

func run() int {
	// WANCTL_CPUPROFILE=FILE writes a CPU profile of the whole run (for
	// `go tool pprof`): how BENCHMARKS.md's daemon cost was broken down.
	if p := os.Getenv("WANCTL_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wanctl: WANCTL_CPUPROFILE: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "wanctl: WANCTL_CPUPROFILE: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	return commands.Run(os.Args, commands.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}

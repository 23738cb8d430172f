// Command wanctl keeps an internet link responsive under load by shaping it
// with CAKE on a MikroTik RouterOS v7 router. See README.md.
package main

import (
	"os"

	"github.com/wanctl/wanctl/commands"
)

func main() { os.Exit(run()) }

func run() int {
	return commands.Run(os.Args, commands.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}

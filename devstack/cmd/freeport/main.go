// Command freeport prints free TCP ports on 127.0.0.1, one per line, for
// scripts that start throwaway servers.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/contactguard/contactguard/devstack/stack"
)

func main() {
	n := flag.Int("n", 1, "how many distinct ports")
	flag.Parse()
	ports, err := stack.FreePorts(*n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "freeport:", err)
		os.Exit(1)
	}
	for _, p := range ports {
		fmt.Println(p)
	}
}

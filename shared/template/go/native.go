//go:build !wasip1

// The same engine as a plain program (request on stdin, response on stdout): the reference the tests
// compare the WebAssembly build against.
package main

import (
	"io"
	"os"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Exit(1)
	}
	_, _ = os.Stdout.Write(handle(in))
}

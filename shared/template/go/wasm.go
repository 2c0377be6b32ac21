//go:build wasip1

// Built as a WASI reactor (-buildmode=c-shared): the host allocates a request buffer, calls render and reads
// the response at the returned pointer (high 32 bits) and length (low 32 bits). Buffers are kept in a map so
// the garbage collector keeps them until the host frees them.
package main

import "unsafe"

var held = map[uint32][]byte{}

func hold(b []byte) uint32 {
	if len(b) == 0 {
		b = make([]byte, 1)
	}
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	held[p] = b
	return p
}

//go:wasmexport alloc
func alloc(n uint32) uint32 { return hold(make([]byte, n)) }

//go:wasmexport release
func release(p uint32) { delete(held, p) }

//go:wasmexport render
func render(p, n uint32) uint64 {
	out := handle(held[p][:n])
	return uint64(hold(out))<<32 | uint64(len(out))
}

func main() {}

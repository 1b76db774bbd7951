// Command gen writes internal/sysnum/zz_generated.go from the kernel UAPI
// headers installed on this machine (see package sysnumgen for the sources).
//
// Usage (normally through `go generate ./internal/sysnum`):
//
//	go run ./internal/sysnum/gen -o internal/sysnum/zz_generated.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kcfm-linux/kcfm/internal/sysnum/sysnumgen"
)

func main() {
	out := flag.String("o", "zz_generated.go", "output file")
	flag.Parse()
	src, err := sysnumgen.Generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sysnum/gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "sysnum/gen:", err)
		os.Exit(1)
	}
}

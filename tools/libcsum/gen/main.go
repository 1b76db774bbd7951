// Command gen writes a libc summary; it is what `kcfm libc generate` runs,
// usable without building the whole kcfm CLI (tools/libcsum/scripts/generate.sh).
//
//	go run ./tools/libcsum/gen -arch x86_64 -libc glibc -o OUT.json /lib/x86_64-linux-gnu/libc.so.6
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/tools/libcsum"
)

func main() {
	archF := flag.String("arch", "", "architecture of the library: x86_64 or aarch64")
	libcF := flag.String("libc", "", "expected libc: glibc or musl (default: detected)")
	out := flag.String("o", "", "output file")
	explain := flag.String("explain", "", "instead of writing a summary: explain why this function has -syscall")
	sysF := flag.String("syscall", "", "with -explain: syscall name, unknown or dlopen")
	symF := flag.String("symbols", "", "with -explain: detached debug file naming internal code")
	flag.Parse()
	if *explain != "" && flag.NArg() == 1 {
		arch, err := sysnum.ParseArch(*archF)
		if err != nil {
			fail(err)
		}
		ex, err := libcsum.Explain(flag.Arg(0), arch, *explain, *sysF, *symF)
		if err != nil {
			fail(err)
		}
		fmt.Printf("%s -> %s:\n", ex.Function, ex.What)
		for _, s := range ex.Steps {
			fmt.Printf("  %s\n", s)
		}
		return
	}
	if flag.NArg() != 1 || *out == "" || *archF == "" {
		fmt.Fprintln(os.Stderr, "usage: gen -arch ARCH [-libc glibc|musl] -o OUT LIBC.so")
		os.Exit(2)
	}
	arch, err := sysnum.ParseArch(*archF)
	if err != nil {
		fail(err)
	}
	s, err := libcsum.Generate(flag.Arg(0), arch)
	if err != nil {
		fail(err)
	}
	if *libcF != "" && s.Libc != *libcF {
		fail(fmt.Errorf("%s: is %s, not %s", flag.Arg(0), s.Libc, *libcF))
	}
	data, err := s.Marshal()
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "libcsum/gen:", err)
	os.Exit(1)
}

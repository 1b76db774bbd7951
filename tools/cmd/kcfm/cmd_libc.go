package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/tools/libcsum"
)

func init() {
	register(&cli.Command{
		Name:  "libc",
		Usage: "compute and inspect libc summaries (the syscalls each libc function can make)",
		Description: `Summaries are computed from the libc binary (docs/libc-summaries.md). kcfm embeds the
summaries of Debian 12's glibc and musl for x86_64 and aarch64.`,
		Subcommands: []*cli.Command{
			{
				Name:      "generate",
				Usage:     "analyse a libc shared library and write its summary",
				ArgsUsage: "LIBC.so",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "arch", Required: true, Usage: "architecture of the library: x86_64 or aarch64"},
					&cli.StringFlag{Name: "libc", Usage: "expected libc: glibc or musl (default: detected)"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "output file ('-' for standard output)"},
				},
				Action: libcGenerate,
			},
			{
				Name:      "show",
				Usage:     "print a summary (or one function of it) with syscall names",
				ArgsUsage: "[FILE]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "function", Aliases: []string{"f"}, Usage: "show only this function (versioned names and aliases accepted)"},
					&cli.StringFlag{Name: "embedded", Usage: "show the embedded summary of this libc (glibc or musl) instead of FILE"},
					&cli.StringFlag{Name: "arch", Usage: "architecture of the embedded summary (default: the host's)"},
				},
				Action: libcShow,
			},
			{
				Name:      "explain",
				Usage:     "show why a function's summary contains a syscall (a shortest call path inside the libc)",
				ArgsUsage: "LIBC.so",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "arch", Usage: "architecture of the library (default: the host's)"},
					&cli.StringFlag{Name: "function", Aliases: []string{"f"}, Required: true, Usage: "exported function, 0xADDRESS, <fatal> or <cancellation>"},
					&cli.StringFlag{Name: "syscall", Aliases: []string{"s"}, Required: true, Usage: "syscall name, 'unknown' (unknown number) or 'dlopen' (loads code)"},
					&cli.StringFlag{Name: "symbols", Usage: "ELF file with a full symbol table of the same build (detached debug file), to name internal code"},
				},
				Action: libcExplain,
			},
		},
	})
}

func libcGenerate(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("libc generate: want one LIBC.so argument, got %d", c.NArg())
	}
	arch, err := sysnum.ParseArch(c.String("arch"))
	if err != nil {
		return fmt.Errorf("libc generate: --arch: %w", err)
	}
	want := c.String("libc")
	if want != "" && want != "glibc" && want != "musl" {
		return fmt.Errorf("libc generate: --libc %q: expected glibc or musl", want)
	}
	s, err := libcsum.Generate(c.Args().First(), arch)
	if err != nil {
		return err
	}
	if want != "" && s.Libc != want {
		return fmt.Errorf("%s: is %s, not %s", c.Args().First(), s.Libc, want)
	}
	data, err := s.Marshal()
	if err != nil {
		return err
	}
	if out := c.String("output"); out == "-" {
		_, err = os.Stdout.Write(data)
	} else {
		err = os.WriteFile(out, data, 0o644)
	}
	return err
}

func libcExplain(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("libc explain: want one LIBC.so argument, got %d", c.NArg())
	}
	arch := sysnum.Host()
	if a := c.String("arch"); a != "" {
		var err error
		if arch, err = sysnum.ParseArch(a); err != nil {
			return fmt.Errorf("libc explain: --arch: %w", err)
		}
	}
	ex, err := libcsum.Explain(c.Args().First(), arch, c.String("function"), c.String("syscall"), c.String("symbols"))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s -> %s:\n", ex.Function, ex.What)
	for _, s := range ex.Steps {
		fmt.Fprintf(c.App.Writer, "  %s\n", s)
	}
	return nil
}

func libcShow(c *cli.Context) error {
	var s *libcsum.Summary
	var err error
	switch {
	case c.String("embedded") != "":
		if c.NArg() != 0 {
			return fmt.Errorf("libc show: give either FILE or --embedded, not both")
		}
		arch := sysnum.Host()
		if a := c.String("arch"); a != "" {
			if arch, err = sysnum.ParseArch(a); err != nil {
				return fmt.Errorf("libc show: --arch: %w", err)
			}
		}
		s, err = libcsum.Embedded(c.String("embedded"), arch)
	case c.NArg() == 1:
		s, err = libcsum.Load(c.Args().First())
	default:
		return fmt.Errorf("libc show: want FILE or --embedded glibc|musl")
	}
	if err != nil {
		return err
	}
	return printSummary(c.App.Writer, s, c.String("function"))
}

func printSummary(w io.Writer, s *libcsum.Summary, only string) error {
	arch := sysnum.Arch(s.Arch)
	fmt.Fprintf(w, "%s %s %s (soname %s, build id %s): %d functions\n", s.Libc, s.LibcVersion, s.Arch, s.Soname, s.BuildID, len(s.Functions))
	names := make([]string, 0, len(s.Functions))
	if only != "" {
		f, ok := s.Lookup(only)
		if !ok {
			return &exitError{code: 1, msg: fmt.Sprintf("function %q is not in the %s %s summary", only, s.Libc, s.Arch)}
		}
		printFunc(w, arch, only, f)
		return nil
	}
	for _, p := range []struct {
		name string
		f    *libcsum.Func
	}{{"<cancellation path>", s.Cancellation}, {"<crash paths>", s.Fatal}, {"<dying set>", s.Dying}} {
		if p.f != nil {
			printFunc(w, arch, p.name, *p.f)
		}
	}
	if len(s.CancelTriggers) > 0 {
		fmt.Fprintf(w, "cancellation triggers: %s\n", strings.Join(s.CancelTriggers, " "))
	}
	for n := range s.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		printFunc(w, arch, n, s.Functions[n])
	}
	return nil
}

func printFunc(w io.Writer, arch sysnum.Arch, name string, f libcsum.Func) {
	var flags []string
	if f.UnknownSyscall {
		flags = append(flags, "unknown-syscall")
	}
	if f.LoadsCode {
		flags = append(flags, "loads-code")
	}
	if f.NrArg > 0 {
		flags = append(flags, fmt.Sprintf("nr-from-arg%d", f.NrArg))
	}
	if f.Cancellation {
		flags = append(flags, "cancellation-point")
	}
	if f.Fatal {
		flags = append(flags, "crash-path")
	}
	fl := ""
	if len(flags) > 0 {
		fl = " [" + strings.Join(flags, ",") + "]"
	}
	fmt.Fprintf(w, "%s: %d syscalls%s: %s\n", name, len(f.Syscalls), fl, strings.Join(libcsum.SyscallNames(arch, f.Syscalls), " "))
	for _, n := range f.Notes {
		fmt.Fprintf(w, "    note: %s\n", n)
	}
}

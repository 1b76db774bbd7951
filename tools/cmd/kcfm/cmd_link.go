package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/tools/libcsum"
	"github.com/kcfm-linux/kcfm/tools/link"
)

func init() {
	register(&cli.Command{
		Name:      "link",
		Usage:     "link TU and library graphs with libc summaries into a program signature (or TU graphs into a library graph with --lib)",
		ArgsUsage: "GRAPH...",
		Description: `Program:  kcfm link --arch x86_64 --libc glibc -o prog.kcfm a.kcfmtu b.kcfmtu libfoo.kcfmlib
Library:  kcfm link --lib foo --kind static -o libfoo.kcfmlib x.kcfmtu y.kcfmtu
--libc takes glibc or musl (the summaries shipped with kcfm for --arch) or a summary file
made with 'kcfm libc generate'. External functions without a summary are warned about
(any syscall of the libc is allowed there); --strict makes them an error.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "o", Usage: "output file", Required: true},
			&cli.StringFlag{Name: "arch", Usage: "target architecture (x86_64, aarch64)", Value: string(sysnum.Host())},
			&cli.StringFlag{Name: "libc", Usage: "glibc, musl, or a libc summary file", Value: "glibc"},
			&cli.StringFlag{Name: "entry", Usage: "entry function", Value: "main"},
			&cli.StringFlag{Name: "program", Usage: "program name recorded in the signature"},
			&cli.BoolFlag{Name: "strict", Usage: "fail on external functions without a summary"},
			&cli.BoolFlag{Name: "no-narrowing", Usage: "resolve indirect calls by type only"},
			&cli.StringFlag{Name: "lib", Usage: "make a library graph with this name instead of a signature"},
			&cli.StringFlag{Name: "kind", Usage: "library kind with --lib: static or shared", Value: "static"},
			&cli.BoolFlag{Name: "quiet", Usage: "do not print warnings"},
			&cli.BoolFlag{Name: "instrument-flags", Usage: "also write, next to every TU graph G given (G.kcfmtu -> G.kcfmflags), the GCC response file that leaves its silent and flat functions uninstrumented, decided for the whole program, and model them so (without it, the program's functions are modelled as compiled: every one instrumented unless its graph step wrote an exclusion list; see docs/model.md)"},
		},
		Action: linkAction,
	})
}

func readGraphs(paths []string) ([]*model.TUGraph, []*model.LibGraph, []string, error) {
	var tus []*model.TUGraph
	var libs []*model.LibGraph
	var tuPaths []string
	for _, p := range paths {
		tu, lib, err := model.ReadGraphFile(p)
		if err != nil {
			return nil, nil, nil, err
		}
		if tu != nil {
			tus = append(tus, tu)
			tuPaths = append(tuPaths, p)
		} else {
			libs = append(libs, lib)
		}
	}
	return tus, libs, tuPaths, nil
}

func loadSummaries(spec string, arch sysnum.Arch) (*libcsum.Summary, error) {
	if spec == "glibc" || spec == "musl" {
		return libcsum.Embedded(spec, arch)
	}
	s, err := libcsum.Load(spec)
	if err != nil {
		return nil, err
	}
	if s.Arch != string(arch) {
		return nil, fmt.Errorf("%s: summary is for %s, linking for %s", spec, s.Arch, arch)
	}
	return s, nil
}

func linkAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("link: no graph files given")
	}
	tus, libs, tuPaths, err := readGraphs(c.Args().Slice())
	if err != nil {
		return err
	}
	if name := c.String("lib"); name != "" {
		kind := c.String("kind")
		if kind != "static" && kind != "shared" {
			return fmt.Errorf("link: --kind %q: want static or shared", kind)
		}
		lg := &model.LibGraph{Format: model.LibFormat, Version: model.LibVersion, Name: name, Kind: kind}
		seen := map[string]bool{}
		for _, l := range libs { // a library may bundle other graph libraries
			lg.Units = append(lg.Units, l.Units...)
		}
		for _, tu := range tus {
			lg.Units = append(lg.Units, *tu)
		}
		for _, u := range lg.Units {
			for _, f := range u.Functions {
				if !f.Static && f.Linkage != "" && !seen[f.Linkage] {
					seen[f.Linkage] = true
					lg.Exports = append(lg.Exports, f.Linkage)
				}
			}
		}
		sort.Strings(lg.Exports)
		return model.WriteFile(c.String("o"), lg)
	}
	arch, err := sysnum.ParseArch(c.String("arch"))
	if err != nil {
		return err
	}
	sum, err := loadSummaries(c.String("libc"), arch)
	if err != nil {
		return err
	}
	for _, tu := range tus {
		if tu.Target != "" && !targetMatches(tu.Target, arch) {
			return fmt.Errorf("link: %s was graphed for %s, linking for %s", tu.Source, tu.Target, arch)
		}
	}
	sig, rep, err := link.Link(tus, libs, link.Options{
		Arch: arch, Entry: c.String("entry"), Program: c.String("program"),
		Summaries: link.FromLibcFor(sum, tus, libs), Strict: c.Bool("strict"), NoNarrowing: c.Bool("no-narrowing"),
		DecideExclusions: c.Bool("instrument-flags"),
	})
	if rep != nil && !c.Bool("quiet") {
		for _, w := range rep.Warnings {
			fmt.Fprintf(os.Stderr, "kcfm link: warning: %s\n", w)
		}
	}
	if err != nil {
		return err
	}
	if err := model.WriteSignature(c.String("o"), sig); err != nil {
		return err
	}
	if c.Bool("instrument-flags") {
		for i, p := range tuPaths {
			if err := writeExclusions(strings.TrimSuffix(p, ".kcfmtu")+instrumentFlagsSuffix, rep.Exclusions[i]); err != nil {
				return fmt.Errorf("link: %v", err)
			}
		}
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(os.Stderr, "kcfm link: %s: %d functions, %d states, %d syscalls; indirect calls %d (avg %.2f targets, %d narrowed), virtual calls %d\n",
			c.String("o"), len(sig.Functions), sig.NumStates(), len(sig.Syscalls), rep.IndirectCalls, rep.AvgIndirectTargets(), rep.NarrowedCalls, rep.VirtualCalls)
	}
	return nil
}

// targetMatches checks a clang target triple against the link arch.
func targetMatches(triple string, arch sysnum.Arch) bool {
	a, _, _ := cutDash(triple)
	p, err := sysnum.ParseArch(a)
	return err != nil || p == arch
}

func cutDash(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/analysis"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

func init() {
	register(&cli.Command{
		Name:      "graph",
		Usage:     "build the TU graph (per-function control-flow automata) of a C or C++ source file",
		ArgsUsage: "[-p BUILD_DIR] FILE [-- COMPILER-FLAGS...]",
		Description: `Parses FILE with libclang and writes its TU graph (JSON, format kcfm-tu,
see docs/formats.md) to -o, or to standard output.

The compiler command line comes from BUILD_DIR/compile_commands.json (-p), or
from the flags after "--" (clang-tools convention). Options may also follow
FILE, before "--".

Exit status: 0 on success, 1 when the input is bad (missing file, broken or
incomplete compilation database, code that does not compile: clang's
diagnostics are printed; unsupported language), 2 on usage errors.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "p", Usage: "build directory containing compile_commands.json"},
			&cli.StringFlag{Name: "o", Usage: "output file (default: standard output)"},
			&cli.BoolFlag{Name: "dump", Usage: "write the human-readable dump instead of JSON"},
			&cli.StringFlag{Name: "target", Usage: "target triple, passed to clang as --target=TRIPLE"},
			&cli.StringFlag{Name: "depfile", Usage: "also write a Makefile-style depfile (OUTPUT: every file the TU read) for incremental builds; needs -o"},
			&cli.BoolFlag{Name: "headers", Usage: "also graph functions defined in project (non-system) headers"},
			&cli.StringFlag{Name: "instrument-flags", Usage: "also write a GCC response file (name ending in .kcfmflags) that leaves the TU's silent functions uninstrumented (see docs/model.md); empty for C++"},
		},
		Action: graphAction,
	})
}

type graphArgs struct {
	db, out, target, file string
	dump, headers         bool
	flags                 []string // after --
	sawDashDash           bool
}

// parseGraphArgs reads the positional part of the command line: FILE,
// options placed after it, and the compiler flags after "--".
func parseGraphArgs(c *cli.Context) (*graphArgs, error) {
	ga := &graphArgs{db: c.String("p"), out: c.String("o"), target: c.String("target"), dump: c.Bool("dump"), headers: c.Bool("headers")}
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			ga.sawDashDash = true
			ga.flags = append(ga.flags, args[i+1:]...)
			break
		}
		val := func(name string) (string, error) {
			if k := strings.IndexByte(a, '='); k >= 0 {
				return a[k+1:], nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case a == "-p" || a == "--p" || strings.HasPrefix(a, "-p=") || strings.HasPrefix(a, "--p="):
			ga.db, err = val("-p")
		case a == "-o" || a == "--o" || strings.HasPrefix(a, "-o=") || strings.HasPrefix(a, "--o="):
			ga.out, err = val("-o")
		case a == "--target" || a == "-target" || strings.HasPrefix(a, "--target=") || strings.HasPrefix(a, "-target="):
			ga.target, err = val("--target")
		case a == "--dump" || a == "-dump":
			ga.dump = true
		case a == "--headers" || a == "-headers":
			ga.headers = true
		case strings.HasPrefix(a, "-") && a != "-":
			return nil, fmt.Errorf("unknown option %s (compiler flags go after --)", a)
		default:
			if ga.file != "" {
				return nil, fmt.Errorf("more than one input file (%s, %s): kcfm graph takes one translation unit", ga.file, a)
			}
			ga.file = a
		}
		if err != nil {
			return nil, err
		}
	}
	if ga.file == "" {
		return nil, errors.New("no input file (usage: kcfm graph [-p BUILD_DIR] FILE [-- FLAGS...])")
	}
	if ga.db != "" && ga.sawDashDash && len(ga.flags) > 0 {
		// allowed: extra flags are appended to the database's command
	}
	return ga, nil
}

func graphAction(c *cli.Context) error {
	ga, err := parseGraphArgs(c)
	if err != nil {
		return &exitError{code: 2, msg: "graph: " + err.Error()}
	}
	if st, err := os.Stat(ga.file); err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("graph: %s: %v", ga.file, errors.Unwrap(err))}
	} else if st.IsDir() {
		return &exitError{code: 1, msg: fmt.Sprintf("graph: %s is a directory, not a source file", ga.file)}
	}
	in := analysis.Input{File: ga.file}
	if ga.db != "" {
		cmds, err := clang.LoadCompileCommands(ga.db, ga.file)
		if err != nil {
			return &exitError{code: 1, msg: "graph: " + err.Error()}
		}
		in.File, in.Argv = cmds[0].ParseArgs()
		in.Argv = dropInstrumentFlags(in.Argv)
		in.Argv = append(in.Argv, ga.flags...)
	} else {
		in.Argv = append([]string{"clang"}, ga.flags...)
	}
	if ga.target != "" {
		in.Argv = append(in.Argv, "--target="+ga.target)
	}
	var deps []string
	opts := analysis.Options{Headers: ga.headers}
	depfile := c.String("depfile")
	if depfile != "" {
		if ga.out == "" || ga.out == "-" {
			return &exitError{code: 2, msg: "graph: --depfile needs -o OUTPUT"}
		}
		opts.Deps = &deps
	}
	g, _, err := analysis.Run(in, opts)
	if err != nil {
		var ce *analysis.CompileError
		if errors.As(err, &ce) {
			for _, d := range ce.Diagnostics {
				if d.Severity >= clang.Warning {
					fmt.Fprintln(os.Stderr, d.String())
				}
			}
			return &exitError{code: 1, msg: fmt.Sprintf("graph: %s does not compile; no graph written", ga.file)}
		}
		return &exitError{code: 1, msg: "graph: " + err.Error()}
	}
	if ga.target != "" {
		g.Target = ga.target
	}
	if c.String("instrument-flags") != "" {
		g.MarkUninstrumented() // the graph says what the compile may leave out
	}
	if err := writeGraph(ga.out, ga.dump, g); err != nil {
		return err
	}
	if p := c.String("instrument-flags"); p != "" {
		if err := writeInstrumentFlags(p, g); err != nil {
			return &exitError{code: 1, msg: "graph: " + err.Error()}
		}
	}
	if depfile != "" {
		if err := writeDepfile(depfile, ga.out, deps); err != nil {
			return &exitError{code: 1, msg: "graph: " + err.Error()}
		}
	}
	return nil
}

// writeDepfile writes "OUTPUT: DEP..." in the Makefile syntax that Ninja
// and CMake's DEPFILE read (spaces, '#' and '$' escaped).
func writeDepfile(path, out string, deps []string) error {
	esc := func(s string) string {
		s = strings.ReplaceAll(s, " ", `\ `)
		s = strings.ReplaceAll(s, "#", `\#`)
		return strings.ReplaceAll(s, "$", "$$")
	}
	var b strings.Builder
	b.WriteString(esc(out) + ":")
	for _, d := range deps {
		b.WriteString(" \\\n  " + esc(d))
	}
	b.WriteString("\n")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeGraph streams the graph (JSON or dump) to path, or to standard
// output for "" and "-". Files are written to a temporary name and renamed,
// so an interrupted build never leaves a truncated graph behind.
func writeGraph(path string, dump bool, g *model.TUGraph) error {
	emit := func(f *os.File) error {
		w := bufio.NewWriterSize(f, 1<<16)
		if dump {
			g.Dump(w)
		} else if err := model.Encode(w, g); err != nil {
			return err
		}
		return w.Flush()
	}
	if path == "" || path == "-" {
		return emit(os.Stdout)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return &exitError{code: 1, msg: "graph: " + err.Error()}
	}
	if err := emit(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return &exitError{code: 1, msg: fmt.Sprintf("graph: writing %s: %v", path, err)}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return &exitError{code: 1, msg: fmt.Sprintf("graph: writing %s: %v", path, err)}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return &exitError{code: 1, msg: "graph: " + err.Error()}
	}
	return nil
}

package clang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCompileDB: any compile_commands.json is rejected with an error or
// yields commands; never a crash (the JSON is validated before libclang's
// loader sees it).
func FuzzCompileDB(f *testing.F) {
	f.Add(`[{"directory": "/src", "file": "a.c", "command": "cc -Iinc -c a.c -o a.o"}]`, "/src/a.c")
	f.Add(`[{"directory": "/src", "file": "/src/a.c", "arguments": ["g++", "-c", "a.c"]}]`, "/src/a.c")
	f.Add(`[{"directory": "/src", "file": "a.c"}]`, "/src/a.c")
	f.Add(`[{oops`, "a.c")
	f.Add(`{}`, "a.c")
	f.Add(`[]`, "a.c")
	f.Add(`[{"directory": "", "file": "", "command": ""}]`, "")
	f.Fuzz(func(t *testing.T, db, file string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "compile_commands.json"), []byte(db), 0o644); err != nil {
			t.Fatal(err)
		}
		cmds, err := LoadCompileCommands(dir, file)
		if err != nil {
			return
		}
		for _, c := range cmds {
			src, argv := c.ParseArgs()
			if src == "" && c.Filename != "" {
				t.Errorf("lost the source file of %+v", c)
			}
			for _, a := range argv {
				if a == "--" {
					t.Errorf("literal -- kept: %q", argv)
				}
			}
		}
	})
}

// FuzzParseArgs: the rewritten command line never keeps the source file,
// -o, -c or a literal --, and keeps argv[0].
func FuzzParseArgs(f *testing.F) {
	f.Add("/build", "src/a.c", "gcc -Iinc -isystem sys -o a.o -c src/a.c -DX=1 --")
	f.Add("/b", "a.c", "clang -include pre.h -MF dep.d -MT x -working-directory /tmp a.c")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, dir, file, cmd string) {
		args := strings.Fields(cmd)
		cc := CompileCommand{Directory: dir, Filename: file, Args: args}
		_, argv := cc.ParseArgs()
		if len(args) > 0 && (len(argv) == 0 || argv[0] != args[0]) {
			t.Fatalf("argv[0] lost: %q -> %q", args, argv)
		}
		for i, a := range argv {
			if i == 0 {
				continue
			}
			if a == "--" || a == "-c" || a == "-o" || a == "-working-directory" {
				t.Errorf("%q kept in %q", a, argv)
			}
		}
	})
}

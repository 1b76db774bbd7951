package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateCLIDoc = flag.Bool("update-cli-doc", false, "rewrite docs/cli.md from the commands' help")

// cliDoc renders docs/cli.md from the help of every visible command, so
// that the documentation cannot drift from the code.
func cliDoc(t *testing.T) []byte {
	var b bytes.Buffer
	b.WriteString("# kcfm command line\n\nGenerated from the commands' own help by `go test ./tools/cmd/kcfm -run TestCLIDoc -update-cli-doc`;\n")
	b.WriteString("a test fails when this page and the code disagree. `FlowChecker` and `FlowMonitor` are described in\n[monitor.md](monitor.md).\n\n")
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	if err := app.Run([]string{"kcfm", "--help"}); err != nil {
		t.Fatal(err)
	}
	b.WriteString("```\n" + strings.TrimRight(out.String(), "\n") + "\n```\n")
	for _, c := range app.Commands {
		if c.Hidden || c.Name == "help" {
			continue
		}
		out.Reset()
		for _, c := range commands {
			c.HelpName = "" // set by an earlier Run of the shared commands
		}
		a := newApp()
		a.Writer, a.ErrWriter = &out, &out
		if err := a.Run([]string{"kcfm", c.Name, "--help"}); err != nil {
			t.Fatalf("%s --help: %v", c.Name, err)
		}
		b.WriteString("\n## kcfm " + c.Name + "\n\n```\n" + strings.TrimRight(out.String(), "\n") + "\n```\n")
	}
	return b.Bytes()
}

func TestCLIDoc(t *testing.T) {
	path := filepath.Join("..", "..", "..", "docs", "cli.md")
	want := cliDoc(t)
	if *updateCLIDoc {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with -update-cli-doc)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/cli.md is out of date: go test ./tools/cmd/kcfm -run TestCLIDoc -update-cli-doc")
	}
}

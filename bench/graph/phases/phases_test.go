// Package phases is a benchmark, not a test: where the CPU time of
// `kcfm graph` goes, phase by phase, in one process, with libclang's parse
// of the same input as the baseline of the same run.
//
//	go test -run '^$' -bench Phases -benchtime 5x ./bench/graph/phases
//	KCFM_BENCH_FILE=/path/to/sqlite3.c go test -run '^$' -bench Phases ./bench/graph/phases
//
// Without KCFM_BENCH_FILE the input is the generated 200k-line corpus of
// bench/graph/gencorpus (seed 1, what bench/graph/run.sh uses). Each
// iteration parses the file (clang.Index.Parse with -w, as kcfm graph
// does), builds its TU graph (analysis.Analyze), encodes it
// (model.Encode) and disposes of the TU; the CPU time of the process
// (getrusage, user + system) of each phase is reported per iteration in
// ms, with analyze/parse and total/parse: the overhead of kcfm graph over
// the parse that clang -fsyntax-only also does. GOGC is 400 unless set,
// as in kcfm graph.
package phases

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/analysis"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

func cpu(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// input returns the file to graph: KCFM_BENCH_FILE, or the corpus
// generated into a temporary directory.
func input(b *testing.B) string {
	if f := os.Getenv("KCFM_BENCH_FILE"); f != "" {
		abs, err := filepath.Abs(f)
		if err != nil {
			b.Fatal(err)
		}
		return abs
	}
	out := filepath.Join(b.TempDir(), "corpus.c")
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("go", "run", "../gencorpus", "-lines", "200000", "-seed", "1")
	cmd.Stdout, cmd.Stderr = f, os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("gencorpus: %v", err)
	}
	return out
}

func BenchmarkPhases(b *testing.B) {
	file := input(b)
	if os.Getenv("GOGC") == "" {
		// kcfm graph's setting (tools/cmd/kcfm/cmd_graph_runtime.go)
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	ix := clang.NewIndex()
	defer ix.Dispose()
	var parse, analyze, encode, dispose time.Duration
	var functions int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0 := cpu(b)
		tu, err := ix.Parse(file, []string{"clang", "-w"}, 0)
		if err != nil {
			b.Fatal(err)
		}
		c1 := cpu(b)
		g, err := analysis.Analyze(tu, "c", analysis.Options{})
		if err != nil {
			b.Fatal(err)
		}
		c2 := cpu(b)
		if err := model.Encode(io.Discard, g); err != nil {
			b.Fatal(err)
		}
		c3 := cpu(b)
		tu.Dispose()
		c4 := cpu(b)
		parse += c1 - c0
		analyze += c2 - c1
		encode += c3 - c2
		dispose += c4 - c3
		functions = len(g.Functions)
	}
	if functions == 0 {
		b.Fatalf("%s: no functions graphed", file)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e6 }
	b.ReportMetric(ms(parse), "parse-ms")
	b.ReportMetric(ms(analyze), "analyze-ms")
	b.ReportMetric(ms(encode), "encode-ms")
	b.ReportMetric(ms(dispose), "dispose-ms")
	b.ReportMetric(float64(analyze)/float64(parse), "analyze/parse")
	b.ReportMetric(float64(parse+analyze+encode+dispose)/float64(parse), "total/parse")
	b.ReportMetric(float64(functions), "functions")
}

package monitor

import (
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// BenchmarkRestartToRunning measures, per iteration, the time from the
// request that triggers an anomaly until the restarted server answers
// again: FlowChecker's verdict and kill, the report, FlowMonitor's stop of
// the whole tree and reaping, the release handshake, a new arena, the
// launcher shim, the program's start-up until it listens, and the hand-over
// to FlowChecker. The back-off is 0 so only the mechanism is measured.
//
//	go test -run '^$' -bench RestartToRunning -benchtime 50x ./runtime/monitor
func BenchmarkRestartToRunning(b *testing.B) {
	dir := b.TempDir()
	sig, _ := writeSig(b, dir, "flag openat arg2&0x40")
	e := entity(b, dir, sig, b.N+1)
	e.Backoff = Backoff{Initial: 0, Max: Duration(time.Millisecond)}
	e.Incidents = filepath.Join(dir, "incidents.jsonl")
	sock := e.Args[0]
	r := startRun(b, e)
	r.instance()
	serving(b, sock)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if ans, _ := request(sock, "create "+filepath.Join(dir, "x")); ans != "" {
			b.Fatalf("create answered %q", ans)
		}
		r.instance()
		for {
			if ans, err := request(sock, "ping"); err == nil && ans == "pong" {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	r.cancel()
	r.wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "ms-max")
}

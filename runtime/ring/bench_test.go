package ring

import (
	"sync/atomic"
	"testing"
)

// BenchmarkDrainSlot measures the reader's cost per record (a full ring
// published by a fake producer, drained with a trivial callback).
func BenchmarkDrainSlot(b *testing.B) {
	a, err := NewArena(1, 1<<16)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	atomic.StoreUint32(a.p32(0, sState), uint32(Claimed))
	atomic.StoreUint32(a.p32(0, sTid), 1)
	var sum uint64
	b.ResetTimer()
	n := 0
	for n < b.N {
		atomic.StoreUint64(a.p64(0, sHead), a.cons[0].tail+uint64(a.recs))
		k, _ := a.DrainSlot(0, func(r Record) error { sum += r.Fn; return nil })
		n += k
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}

// BenchmarkDrainSlotBatch is BenchmarkDrainSlot through DrainSlotBatch
// (256-record batches), as FlowChecker drains.
func BenchmarkDrainSlotBatch(b *testing.B) {
	a, err := NewArena(1, 1<<16)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	atomic.StoreUint32(a.p32(0, sState), uint32(Claimed))
	atomic.StoreUint32(a.p32(0, sTid), 1)
	var sum uint64
	buf := make([]Record, 256)
	b.ResetTimer()
	n := 0
	for n < b.N {
		atomic.StoreUint64(a.p64(0, sHead), a.cons[0].tail+uint64(a.recs))
		k, _ := a.DrainSlotBatch(0, buf, func(rs []Record) (int, error) {
			for _, r := range rs {
				sum += r.Fn
			}
			return len(rs), nil
		})
		n += k
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}

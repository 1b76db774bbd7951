package ring

import (
	"sync/atomic"
	"testing"
)

// benchDrain measures the reader's cost per record: a full ring published
// by a fake producer, drained again and again with drain.
func benchDrain(b *testing.B, drain func(a *Arena, sum *uint64) int) {
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
		n += drain(a, &sum)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}

// BenchmarkDrainSlot: one callback per record.
func BenchmarkDrainSlot(b *testing.B) {
	benchDrain(b, func(a *Arena, sum *uint64) int {
		k, _ := a.DrainSlot(0, func(r Record) error { *sum += r.Fn; return nil })
		return k
	})
}

// BenchmarkDrainSlotBatch: 256-record batches, as FlowChecker drains.
func BenchmarkDrainSlotBatch(b *testing.B) {
	buf := make([]Record, 256)
	benchDrain(b, func(a *Arena, sum *uint64) int {
		k, _ := a.DrainSlotBatch(0, buf, func(rs []Record) (int, error) {
			for _, r := range rs {
				*sum += r.Fn
			}
			return len(rs), nil
		})
		return k
	})
}

package ring

import (
	"encoding/binary"
	"testing"
)

// FuzzOpenHeader: arbitrary bytes as an arena file. openMem must reject or
// accept them without panicking, and an accepted arena must be usable.
func FuzzOpenHeader(f *testing.F) {
	good := make([]byte, HeaderSize+SlotHeaderSize+16*RecordSize)
	copy(good, Magic)
	le := binary.LittleEndian
	le.PutUint32(good[hVersion:], Version)
	le.PutUint32(good[hHeaderSize:], HeaderSize)
	le.PutUint32(good[hSlots:], 1)
	le.PutUint32(good[hRecs:], 16)
	le.PutUint64(good[hStride:], SlotHeaderSize+16*RecordSize)
	le.PutUint64(good[hTotal:], uint64(len(good)))
	le.PutUint32(good[hFlags:], FlagBlock)
	f.Add(good)
	f.Add(good[:HeaderSize])
	f.Add([]byte("KCFMRING"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		mem := append([]byte(nil), b...)
		a, err := openMem(nil, mem)
		if err != nil {
			return
		}
		if a.Size() != len(mem) || a.Slots() < 1 {
			t.Fatalf("accepted geometry %d slots, size %d of %d", a.Slots(), a.Size(), len(mem))
		}
		exercise(t, a)
	})
}

// FuzzDrain: a valid header over slot contents written by a hostile
// producer. Every operation must stay bounded.
func FuzzDrain(f *testing.F) {
	f.Add(uint8(2), uint8(0), []byte{2, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0}, uint64(3))
	f.Add(uint8(1), uint8(3), []byte{3, 0, 0, 0, 3}, ^uint64(0))
	f.Add(uint8(3), uint8(1), []byte{}, uint64(1<<40))
	f.Fuzz(func(t *testing.T, nslots, lgRecs uint8, slotBytes []byte, head uint64) {
		slots := 1 + int(nslots)%4
		recs := MinRecordsPerSlot << (lgRecs % 4)
		stride, total, err := geometry(slots, recs)
		if err != nil {
			t.Fatal(err)
		}
		mem := make([]byte, total)
		copy(mem, Magic)
		le := binary.LittleEndian
		le.PutUint32(mem[hVersion:], Version)
		le.PutUint32(mem[hHeaderSize:], HeaderSize)
		le.PutUint32(mem[hSlots:], uint32(slots))
		le.PutUint32(mem[hRecs:], uint32(recs))
		le.PutUint64(mem[hStride:], uint64(stride))
		le.PutUint64(mem[hTotal:], uint64(total))
		le.PutUint32(mem[hFlags:], FlagBlock)
		for i := 0; i < slots; i++ {
			base := HeaderSize + i*stride
			copy(mem[base:base+stride], slotBytes)
			le.PutUint64(mem[base+sHead:], head+uint64(i))
			// records: whatever slotBytes spills into, plus a pattern
			for r := 0; r < recs; r++ {
				off := base + SlotHeaderSize + r*RecordSize
				le.PutUint64(mem[off:], head^uint64(r))
			}
		}
		a, err := openMem(nil, mem)
		if err != nil {
			t.Fatalf("valid header rejected: %v", err)
		}
		exercise(t, a)
	})
}

func exercise(t *testing.T, a *Arena) {
	for round := 0; round < 3; round++ {
		for _, si := range a.SlotInfos() {
			n, _ := a.DrainSlot(si.Index, func(Record) error { return nil })
			if n > a.RecordsPerSlot() {
				t.Fatalf("slot %d: %d records from a %d-record ring", si.Index, n, a.RecordsPerSlot())
			}
			a.Lookup(si.Tid)
			a.ByPid(si.Pid)
		}
		total, _ := a.DrainAll(func(SlotInfo, Record) error { return nil })
		if total > a.Slots()*a.RecordsPerSlot() {
			t.Fatalf("DrainAll returned %d records", total)
		}
		a.Reap()
		a.Waiters()
	}
	if _, err := a.DrainSlot(-1, func(Record) error { return nil }); err == nil {
		t.Fatal("slot -1 accepted")
	}
	if _, err := a.DrainSlot(a.Slots(), func(Record) error { return nil }); err == nil {
		t.Fatal("slot past the end accepted")
	}
}

package qemu

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzPump: whatever the guest writes to its console, pump passes every
// byte through, never hands out a line longer than maxLine (plus one read),
// and splits the same way however the bytes are chunked.
func FuzzPump(f *testing.F) {
	f.Add([]byte("KCFM-RESULT: PASS\r\nx\n"))
	f.Add([]byte("\x1b[2Jabc\x1bc\n\n\r"))
	f.Add(bytes.Repeat([]byte("y"), 70000))
	f.Fuzz(func(t *testing.T, data []byte) {
		var lines1, lines2 []string
		var out bytes.Buffer
		pump(bytes.NewReader(data), &out, func(l string) { lines1 = append(lines1, l) })
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("console output differs from input")
		}
		pump(iotest.OneByteReader(bytes.NewReader(data)), io.Discard, func(l string) { lines2 = append(lines2, l) })
		for _, l := range lines1 {
			if len(l) > maxLine+4096 {
				t.Fatalf("line of %d bytes", len(l))
			}
		}
		if !bytes.Contains(data, []byte{'\n'}) && len(data) <= maxLine && len(data) > 0 {
			if len(lines1) != 1 || lines1[0] != strings.TrimRight(string(data), "\r") {
				t.Fatalf("unterminated text not reported as one line: %q", lines1)
			}
		}
		if len(data) <= maxLine && strings.Join(lines1, "\n") != strings.Join(lines2, "\n") {
			t.Fatalf("chunking changed the lines: %q vs %q", lines1, lines2)
		}
		// Marker matching sees the text without terminal escapes.
		_ = reANSI.ReplaceAllString(string(data), "")
	})
}

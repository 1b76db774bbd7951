package analysis

import "testing"

// FuzzOpBetween: the operator scanner reads raw source text between two
// operands; it must never panic and only report one operator.
func FuzzOpBetween(f *testing.F) {
	for _, s := range []string{" && ", ")||(", " , ", " /* c */ + ", " // x\n - ", " \\\n and ", "->*", " = ", "", "/*", "//", "a", "&&&&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := opBetween([]byte(s))
		if k > opOther {
			t.Fatalf("kind %d", k)
		}
	})
}

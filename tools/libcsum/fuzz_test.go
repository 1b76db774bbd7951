package libcsum

import (
	"reflect"
	"testing"
)

// FuzzParse: the summary loader must reject bad input with an error, never
// panic, and whatever it accepts must survive a Marshal/Parse round trip.
func FuzzParse(f *testing.F) {
	good, _ := sample().Marshal()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"kcfm-libc-summary","version":1,"libc":"musl","libc_version":"1.2.3","arch":"aarch64","build_id":"00","soname":"libc.so","sets":[[]],"functions":{"f":{"set":0}}}`))
	f.Add([]byte(`{"format":"kcfm-libc-summary","version":1,"libc":"glibc","arch":"x86_64","sets":[[0,1,2]],"functions":{"a@GLIBC_2.2.5":{"set":0,"nr_arg":1,"notes":["x"]}}}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"sets":[[1e99]]}`))
	if b, err := embedded.ReadFile(EmbeddedPath("musl", "aarch64")); err == nil && len(b) > 4096 {
		f.Add(append(append([]byte{}, b[:4096]...), []byte("]}}")...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatalf("Marshal of an accepted summary: %v", err)
		}
		s2, err := Parse(out, "fuzz-2")
		if err != nil {
			t.Fatalf("re-Parse: %v", err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip differs")
		}
	})
}

package inityaml

import (
	"os"
	"testing"
)

// FuzzParse: arbitrary input never panics; accepted input re-encodes to text
// that parses to the same start order.
func FuzzParse(f *testing.F) {
	f.Add([]byte(kosSample))
	f.Add([]byte("style: linux\nentities:\n- {name: a, path: /a, role: driver}\n"))
	f.Add([]byte("entities:\n- &x {name: a, path: /a}\n- *x\n"))
	f.Add([]byte("entities:\n- {name: a, path: /a, depends: [b]}\n- {name: b, path: /b, depends: [a]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz")
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		again, err := Parse(Encode(cfg), "re")
		if err != nil {
			t.Fatalf("encoded config does not parse: %v\n%s", err, Encode(cfg))
		}
		a, b := cfg.StartOrder(), again.StartOrder()
		if len(a) != len(b) {
			t.Fatalf("start order length changed")
		}
		for i := range a {
			if a[i].Task != b[i].Task {
				t.Fatalf("start order changed at %d: %s vs %s", i, a[i].Task, b[i].Task)
			}
		}
	})
}

// FuzzExpandTemplate: arbitrary templates never panic.
func FuzzExpandTemplate(f *testing.F) {
	tmpl, _ := os.ReadFile("testdata/init.yaml.in")
	f.Add(tmpl)
	f.Add([]byte("@INIT_Hello_ENTITY_PATH@ @X@ @INIT_ENTITIES@\n  @INIT_Echo_ENTITY@"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := ExpandTemplate(data, "fuzz", templateEntities(), map[string]string{"X": "y"})
		if err == nil && len(out) > 64*len(data)+4096 {
			t.Fatalf("expansion blew up: %d -> %d bytes", len(data), len(out))
		}
	})
}

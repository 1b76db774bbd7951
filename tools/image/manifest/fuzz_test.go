package manifest

import "testing"

// FuzzParse: arbitrary manifests never panic the parser.
func FuzzParse(f *testing.F) {
	f.Add([]byte(baseManifest))
	f.Add([]byte(`{"version":1,"arch":"x86_64","style":"linux","init":"/e","entities":[{"name":"a","src":"/a"}]}`))
	f.Add([]byte("version: 1\nentities:\n- &e {name: a}\n- *e\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "/tmp/fuzz/m.yaml")
		if err != nil {
			return
		}
		if m.Version != Version || m.Init == "" {
			t.Fatalf("accepted manifest without version/init: %+v", m)
		}
		m.InitYAML() // template and generation paths must not panic either
	})
}

package analysis

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
)

// TestEncodeGoldenGraphs: model.Encode's hand-written encoder writes the
// graph of every test program exactly as encoding/json does.
func TestEncodeGoldenGraphs(t *testing.T) {
	for _, file := range goldenInputs(t) {
		file := file
		t.Run(filepath.Base(file), func(t *testing.T) {
			flags, opts := directives(t, file)
			g, _, err := Run(Input{File: file, Argv: append([]string{"clang"}, flags...)}, opts)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			var got, want bytes.Buffer
			if err := model.Encode(&got, g); err != nil {
				t.Fatal(err)
			}
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(g); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("model.Encode differs from encoding/json:\n%s\n%s", got.Bytes(), want.Bytes())
			}
		})
	}
}

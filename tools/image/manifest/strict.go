package manifest

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// checkKeys walks a YAML node alongside the Go type it will be decoded into
// and reports the first unknown key, alias or duplicate key with its
// position. It also fills every `Line int yaml:"-"` field with the line of
// the node that struct came from. yaml.v3's KnownFields does the first job
// only at the top level of custom unmarshalers and never reports positions
// of semantic errors, hence this walk.
func checkKeys(n *yaml.Node, v reflect.Value, file, where string) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return fmt.Errorf("%s:%d:%d: YAML anchors and aliases are not allowed in a manifest", file, n.Line, n.Column)
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if v.Type() == reflect.TypeOf(yaml.Node{}) {
		return checkKeys(n, reflect.ValueOf(&map[string]any{}).Elem(), file, where)
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s:%d:%d: %s must be a mapping", file, n.Line, n.Column, where)
		}
		t := v.Type()
		fields := map[string]int{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "-" {
				if t.Field(i).Name == "Line" && t.Field(i).Type.Kind() == reflect.Int {
					v.Field(i).SetInt(int64(n.Line))
				}
				continue
			}
			if tag != "" {
				fields[tag] = i
				names = append(names, tag)
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("%s:%d:%d: unknown key %q in %s (expected one of %s)", file, k.Line, k.Column, k.Value, where, strings.Join(names, ", "))
			}
			if seen[k.Value] {
				return fmt.Errorf("%s:%d:%d: key %q appears twice in %s", file, k.Line, k.Column, k.Value, where)
			}
			seen[k.Value] = true
			if err := checkKeys(val, v.Field(idx), file, fmt.Sprintf("%q", k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			if v.Len() < len(n.Content) {
				v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
			}
			for i, c := range n.Content {
				if err := checkKeys(c, v.Index(i), file, where+" item"); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if seen[k.Value] {
					return fmt.Errorf("%s:%d:%d: key %q appears twice in %s", file, k.Line, k.Column, k.Value, where)
				}
				seen[k.Value] = true
				if n.Content[i+1].Kind == yaml.AliasNode {
					return fmt.Errorf("%s:%d:%d: YAML aliases are not allowed in a manifest", file, k.Line, k.Column)
				}
			}
		}
	}
	return nil
}

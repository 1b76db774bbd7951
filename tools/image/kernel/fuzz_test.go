package kernel

import "testing"

// FuzzKernelDependency: apt-cache output never panics the parser, and a
// kernel package it returns always has the expected shape.
func FuzzKernelDependency(f *testing.F) {
	f.Add([]byte(metaShow))
	f.Add([]byte("Package: linux-image-cloud-arm64\nDepends: a | linux-image-6.1.0-1-cloud-arm64 (>= 1), linux-image-6.1.0-2-cloud-arm64 (= 2)\n"))
	f.Add([]byte("A: b\n c\n\nD: e\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkg, _, err := KernelDependency(data, AArch64)
		if err == nil && !reKernelDep.MatchString(pkg) {
			t.Fatalf("returned package %q", pkg)
		}
	})
}

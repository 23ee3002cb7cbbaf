//go:build !cgo

package hsm

// LoadModule fails in a build without cgo: PKCS#11 modules are C libraries,
// loaded through cgo. It returns ErrNeedsCgo.
func LoadModule(path string) (Module, error) { return nil, ErrNeedsCgo }

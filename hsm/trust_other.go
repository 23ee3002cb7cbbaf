//go:build !unix

package hsm

// trustModule checks nothing where file ownership cannot be read.
func trustModule(string) error { return nil }

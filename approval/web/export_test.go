package web

// Hooks for the external tests (fuzz_test.go).
var (
	SplitPath = splitPath
	LinkPath  = linkPath
)

// MaxPartLen is the bound of a link token.
const MaxPartLen = maxPartLen

// Package benchcpu reads the CPU time the calling process has used, for the
// benchmarks' CPU time per operation: on a machine shared with other work
// it varies much less than their wall time. It is imported by benchmarks
// only.
package benchcpu

//go:build !linux

package main_test

import "testing"

// evictFromPageCache does nothing here: the RSS benchmark reads /proc and
// runs on Linux only.
func evictFromPageCache(testing.TB, string) {}

package policy

import "strings"

// Sanitize keeps printable ASCII of s, at most n bytes: for text that comes
// from outside (node errors) before it reaches an agent.
func Sanitize(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			b.WriteString("…")
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

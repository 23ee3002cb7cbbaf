package ops

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// isAddrShape and isRuleShape accept exactly what the regexps they replaced
// accepted.
func TestShapesMatchTheirRegexps(t *testing.T) {
	addrRE := regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	ruleRE := regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	cases := []string{"", "a", "_", "near_limit", "Near_limit", "a-b", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"0x" + strings.Repeat("aF0", 13) + "9", "0X" + strings.Repeat("a", 40), "0x" + strings.Repeat("g", 40), "0x" + strings.Repeat("a", 41)}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		n := r.IntN(70)
		var b []byte
		if r.IntN(2) == 0 {
			b, n = []byte("0x"), 40+r.IntN(3)-1
		}
		const alphabet = "0123456789abcdefgxABCDEFG_-"
		for range n {
			b = append(b, alphabet[r.IntN(len(alphabet))])
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := isAddrShape(s), addrRE.MatchString(s); got != want {
			t.Errorf("isAddrShape(%q) = %v, the regexp says %v", s, got, want)
		}
		if got, want := isRuleShape(s), ruleRE.MatchString(s); got != want {
			t.Errorf("isRuleShape(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}

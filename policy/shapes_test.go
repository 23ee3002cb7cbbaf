package policy

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// The hand-written shape checks accept exactly what the regexps they
// replaced accepted: listed edge cases, then random strings over the
// characters that matter.
func TestShapesMatchTheirRegexps(t *testing.T) {
	symbolRE := regexp.MustCompile(`^[A-Za-z0-9]{1,11}$`)
	fractionRE := regexp.MustCompile(`^(0|1)(\.[0-9]{1,6})?$`)
	clockRE := regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)
	clockOK := func(s string) bool { _, ok := clockMinutes(s); return ok }
	cases := []string{"", "0", "1", "2", "0.", "1.", "0.2", "1.000000", "0.0000001", "01", "0..1", ".5", "0.a",
		"USDC", "usdc", "A1", "ABCDEFGHIJK", "ABCDEFGHIJKL", "US DC", "USDC\n", "ÜSD",
		"00:00", "23:59", "24:00", "23:60", "9:00", "09:0", "09:00 ", "0a:00", "19:59", "20:00"}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789.:aZ \n"
	for range 20000 {
		b := make([]byte, r.IntN(14))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := isSymbol(s), symbolRE.MatchString(s); got != want {
			t.Errorf("isSymbol(%q) = %v, the regexp says %v", s, got, want)
		}
		if got, want := isFraction(s), fractionRE.MatchString(s); got != want {
			t.Errorf("isFraction(%q) = %v, the regexp says %v", s, got, want)
		}
		if got, want := clockOK(s), clockRE.MatchString(s); got != want {
			t.Errorf("clockMinutes(%q) ok = %v, the regexp says %v", s, got, want)
		}
	}
	if m, ok := clockMinutes("22:30"); !ok || m != 22*60+30 {
		t.Errorf("clockMinutes(22:30) = %d, %v", m, ok)
	}
}

package web

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCSRFStore(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := newCSRFStore(rand.Reader, clock)
	issue := func(id string) string {
		t.Helper()
		tok, err := c.issue(id)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tok := issue("a")
	if !c.take("a", tok) {
		t.Fatal("fresh token refused")
	}
	if c.take("a", tok) {
		t.Fatal("token accepted twice")
	}

	tok = issue("a")
	if c.take("b", tok) {
		t.Fatal("token accepted for another id")
	}
	if c.take("a", tok) {
		t.Fatal("token presented for another id still usable")
	}

	tok = issue("a")
	handle, secret, _ := strings.Cut(tok, ".")
	// The same secret with the padding bits of its last character set.
	last := secret[len(secret)-1]
	if nonCanon := handle + "." + secret[:len(secret)-1] + string(last+1); c.take("a", nonCanon) {
		t.Fatal("non-canonical encoding accepted")
	}

	for _, bad := range []string{"", ".", "x", handle, handle + ".", "." + secret, handle + "." + secret + "A", strings.Repeat("a", 200)} {
		if c.take("a", bad) {
			t.Fatalf("malformed token %q accepted", bad)
		}
	}

	tok = issue("a")
	now = now.Add(csrfTTL)
	if c.take("a", tok) {
		t.Fatal("expired token accepted")
	}

	// Loading one link again and again drops only that link's oldest
	// tokens: the form open for another link stays usable.
	human := issue("h")
	first := issue("a")
	var newestA string
	for range 2000 {
		newestA = issue("a")
	}
	if !c.take("h", human) {
		t.Fatal("another link's loads expired the human's form")
	}
	if c.take("a", first) {
		t.Fatalf("a link kept more than %d tokens", csrfPerID)
	}
	if !c.take("a", newestA) {
		t.Fatal("the newest token of a link evicted")
	}

	// Expired tokens are pruned, and the store never grows past csrfMax.
	for i := range csrfMax + 10 {
		issue(fmt.Sprint("id", i))
	}
	if n := c.len(); n > csrfMax {
		t.Fatalf("store holds %d tokens, max %d", n, csrfMax)
	}
	newest := issue("a")
	if !c.take("a", newest) {
		t.Fatal("newest token evicted")
	}
	now = now.Add(csrfTTL)
	issue("a")
	if n := c.len(); n != 1 {
		t.Fatalf("expired tokens not pruned: %d left", n)
	}
}

func TestCSRFRandFailure(t *testing.T) {
	c := newCSRFStore(bytes.NewReader(make([]byte, 10)), time.Now)
	if _, err := c.issue("a"); err == nil {
		t.Fatal("short random source: no error")
	}
	c = newCSRFStore(bytes.NewReader(make([]byte, 200)), time.Now)
	if _, err := c.issue("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.issue("a"); err == nil {
		t.Fatal("repeated random bytes: no error")
	}
}

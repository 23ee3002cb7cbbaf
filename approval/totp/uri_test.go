package totp

import (
	"testing"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// TestKeyRebuildsTheEnrolmentURI: the key rebuilt from a sealed and opened
// secret has the very URI NewSecret gave at enrolment.
func TestKeyRebuildsTheEnrolmentURI(t *testing.T) {
	k, err := NewSecret("dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	seal := secret.CopyBytes(make([]byte, 32))
	sealed, err := Seal(seal, k.Secret())
	if err != nil {
		t.Fatal(err)
	}
	opened, err := Open(seal, sealed)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Key(opened, "dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.URL() != k.URL() {
		t.Fatalf("rebuilt URI %s, want %s", again.URL(), k.URL())
	}
	if _, err := Key(secret.CopyBytes([]byte("not base32!")), "dev", nil); err == nil {
		t.Fatal("a secret that is not base32 was accepted")
	}
	if _, err := Key(opened, "a:b", nil); err == nil {
		t.Fatal("an account name with ':' was accepted")
	}
}

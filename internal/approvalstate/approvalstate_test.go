package approvalstate

import "testing"

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"0123456789abcdef0123456789abcdef", true},
		{"0123456789ABCDEF0123456789abcdef", false}, // upper case: the CLI lowers it first
		{"0123456789abcdef0123456789abcde", false},
		{"0123456789abcdef0123456789abcdef0", false},
		{"0123456789abcdef0123456789abcdeg", false},
		{"apr_7Kq2mZ", false},
		{"", false},
		{"../../../../../../../../../../..", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestStatus(t *testing.T) {
	final := map[Status]bool{Pending: false, Approved: false, Rejected: true, Expired: true, Executed: true, Failed: true}
	for st, want := range final {
		if !st.Valid() {
			t.Errorf("%s: not Valid", st)
		}
		if st.Final() != want {
			t.Errorf("%s: Final %v, want %v", st, st.Final(), want)
		}
	}
	for _, st := range []Status{"", "unknown", "PENDING", "submitted"} {
		if st.Valid() || st.Final() {
			t.Errorf("%q: Valid or Final", st)
		}
	}
}

func FuzzValidID(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef")
	f.Add("apr_7Kq2mZ")
	f.Fuzz(func(t *testing.T, id string) {
		if !ValidID(id) {
			return
		}
		if len(id) != IDLen {
			t.Fatalf("accepted %q of length %d", id, len(id))
		}
		for _, c := range id {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				t.Fatalf("accepted %q", id)
			}
		}
	})
}

package web_test

import (
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/approval/web"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// FuzzSplitPath: whatever path a browser (or anything on the loopback)
// requests, the split does not panic; what it accepts is an approval id, a
// link token of the right shape and an action it knows; and the link the
// server makes for an accepted id and token splits back to them.
func FuzzSplitPath(f *testing.F) {
	id := strings.Repeat("0a", approvalstate.IDLen/2)
	for _, p := range []string{
		"", "/", "/a/", "/a//", "/a/" + id + "/tok", "/a/" + id + "/tok/approve", "/a/" + id + "/tok/reject",
		"/a/" + id + "/tok/delete", "/a/" + id + "/tok/", "/a/" + id + "/tok/approve/x", "/a/" + strings.ToUpper(id) + "/tok",
		"/a/" + id + "/" + strings.Repeat("t", web.MaxPartLen+1), "/a/" + id + "/t%2Fk", "/a/../" + id + "/tok", "/b/" + id + "/tok",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		gotID, token, action, ok := web.SplitPath(p)
		if !ok {
			if gotID != "" || token != "" || action != "" {
				t.Fatalf("refused %q but returned parts", p)
			}
			return
		}
		if !approvalstate.ValidID(gotID) {
			t.Fatalf("%q: accepted id is not an approval id", p)
		}
		if token == "" || len(token) > web.MaxPartLen || strings.ContainsFunc(token, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-')
		}) {
			t.Fatalf("%q: accepted token of a wrong shape", p)
		}
		if action != "" && action != "approve" && action != "reject" {
			t.Fatalf("%q: accepted action %q", p, action)
		}
		link := web.LinkPath(gotID, token)
		if action != "" {
			link += "/" + action
		}
		if link != p {
			t.Fatalf("%q accepted, but the server's link for it is %q", p, link)
		}
		if i2, t2, a2, ok2 := web.SplitPath(link); !ok2 || i2 != gotID || t2 != token || a2 != action {
			t.Fatalf("%q does not split back", link)
		}
	})
}

package mcpserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/approval"
)

func (panicGuard) CreateOfflineRequest(context.Context, approval.TransferArgs) (*approval.OfflineRequest, error) {
	panic("boom")
}

func (panicGuard) SubmitOfflineSignature(context.Context, string, string) (*approval.Outcome, error) {
	panic("boom")
}

// TestOfflineToolsRefuse: the offline tools refuse a keystore account, an
// unknown request, bad ids and over-long signatures, naming the field and
// echoing nothing.
func TestOfflineToolsRefuse(t *testing.T) {
	e := newEnv(t, envOpts{})
	from := e.accounts[0].Hex()
	msg := e.fail("create_offline_request", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.01"}, "unsupported")
	if !strings.Contains(msg, "send_transfer") {
		t.Fatalf("message %q", msg)
	}
	e.fail("submit_offline_signature", map[string]any{"request_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "signature": "0x" + strings.Repeat("11", 64) + "1b"}, "not_found")
	msg = e.fail("submit_offline_signature", map[string]any{"request_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "signature": "0xsecretsecret"}, "invalid_argument")
	if strings.Contains(msg, "secretsecret") {
		t.Fatalf("the signature was echoed: %q", msg)
	}
	e.fail("submit_offline_signature", map[string]any{"request_id": "x", "signature": "0x" + strings.Repeat("11", 64) + "1b"}, "invalid_argument")
	e.fail("submit_offline_signature", map[string]any{"request_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "signature": strings.Repeat("a", 1025)}, "invalid_argument")
	e.fail("submit_offline_signature", map[string]any{"request_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "signature": "0x11", "extra": "1"}, "invalid_argument")
}

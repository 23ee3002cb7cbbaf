package approval_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer"
	kssigner "github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/signer/offline"
	"github.com/walletmcp/walletmcp/wallet"
)

// offWorld is an rcWorld whose account is offline: the Guard holds no key
// for it, and the test plays the air-gapped device with w.signer.
type offWorld struct {
	*rcWorld
	g   *approval.Guard
	now time.Time
}

func newOffWorld(t *testing.T) *offWorld {
	t.Helper()
	w := &offWorld{rcWorld: rcNewWorld(t), now: time.Now()}
	st, lg := w.process()
	t.Cleanup(func() { lg.Close(); st.Close() })
	g, err := approval.NewGuard(context.Background(), &approval.Config{
		Policy: w.policy, Chain: w.dev, Store: st, Audit: lg, Keys: approval.KeyMap{},
		Offline: map[common.Address]offline.KeyPath{w.from: offline.DefaultPath()},
		Now:     func() time.Time { return w.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	w.g = g
	return w
}

var offBob = common.HexToAddress("0x0000000000000000000000000000000000000B0B")

// request creates an offline request and decodes it as a device would.
func (w *offWorld) request(amount string) (*approval.OfflineRequest, *offline.SignRequest) {
	w.t.Helper()
	r, err := w.g.CreateOfflineRequest(context.Background(), approval.TransferArgs{From: w.from.Hex(), To: offBob.Hex(), Amount: amount})
	if err != nil {
		w.t.Fatalf("CreateOfflineRequest: %v", err)
	}
	if len(r.UR) != len(r.QR) || len(r.UR) == 0 {
		w.t.Fatalf("%d parts, %d images", len(r.UR), len(r.QR))
	}
	req, err := offline.ParseSignRequestUR(r.UR, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return r, req
}

// sign signs req with s, as airsign does, and returns the ur:eth-signature.
func (w *offWorld) sign(s signer.Signer, req *offline.SignRequest) string {
	w.t.Helper()
	sig, err := offline.Sign(context.Background(), s, req, "test")
	if err != nil {
		w.t.Fatal(err)
	}
	ur, err := sig.UR()
	if err != nil {
		w.t.Fatal(err)
	}
	return ur
}

// rawSign signs req's digest with s regardless of the request's address
// (offline.Sign refuses another account).
func (w *offWorld) rawSign(s signer.Signer, tx *types.Transaction) string {
	w.t.Helper()
	h := types.LatestSignerForChainID(tx.ChainId()).Hash(tx)
	sig, err := s.SignDigest(context.Background(), h[:])
	if err != nil {
		w.t.Fatal(err)
	}
	return "0x" + common.Bytes2Hex(sig)
}

func wantCode(t *testing.T, err error, code policy.Code) {
	t.Helper()
	if err == nil || policy.CodeOf(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func (w *offWorld) nonce() uint64 {
	w.t.Helper()
	n, err := w.dev.PendingNonce(context.Background(), w.from)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// TestOfflineRoundTrip: request → device signature → submit → mined, the
// recipient gets exactly the amount; the request id is the UR's request-id;
// a 1 ETH transfer (above auto_approve_max: approval_required) proceeds,
// the device's signature being the human's approval; and the same
// signature again is a conflict with nothing sent.
func TestOfflineRoundTrip(t *testing.T) {
	w := newOffWorld(t)
	ctx := context.Background()
	r, req := w.request("1")
	if r.Verdict != policy.ApprovalRequired {
		t.Fatalf("verdict %v, want approval_required", r.Verdict)
	}
	if got := strings.ReplaceAll(r.ID, "-", ""); got != common.Bytes2Hex(req.RequestID[:]) || r.ID[14] != '4' {
		t.Fatalf("request id %s, UR request-id %x", r.ID, req.RequestID)
	}
	if req.Address == nil || *req.Address != w.from || req.ChainID != 1337 || req.Path.String() != "m/44'/60'/0'/0/0" || req.DataType != offline.DataTypeTypedTx {
		t.Fatalf("request %+v", req)
	}
	sig := w.sign(w.signer, req)
	out, err := w.g.SubmitOfflineSignature(ctx, r.ID, sig)
	if err != nil {
		t.Fatal(err)
	}
	w.waitMined(out.TxHash)
	if got, want := w.balance(offBob), big.NewInt(1e18); got.Cmp(want) != 0 {
		t.Fatalf("bob got %s, want %s", got, want)
	}
	_, err = w.g.SubmitOfflineSignature(ctx, r.ID, sig)
	wantCode(t, err, policy.CodeConflict)
	if n := w.nonce(); n != 1 {
		t.Fatalf("nonce %d after a repeated submission", n)
	}
	// send_transfer cannot spend from an offline account.
	_, err = w.g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: offBob.Hex(), Amount: "0.01"})
	wantCode(t, err, policy.CodeUnsupported)
}

// TestOfflineRefusals: each refusal sends nothing, and a refused signature
// leaves the request usable.
func TestOfflineRefusals(t *testing.T) {
	w := newOffWorld(t)
	ctx := context.Background()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := wallet.SealKey(crypto.FromECDSA(key))
	if err != nil {
		t.Fatal(err)
	}
	mallory := kssigner.New(sealed)

	a, reqA := w.request("0.5")
	b, reqB := w.request("0.25")
	txA, err := reqA.Tx()
	if err != nil {
		t.Fatal(err)
	}
	// Another key over the right transaction.
	_, err = w.g.SubmitOfflineSignature(ctx, a.ID, w.rawSign(mallory, txA))
	wantCode(t, err, policy.CodeInvalidArgument)
	// The right key over another transaction (request B's), as hex and as
	// B's UR (whose request-id differs).
	txB, err := reqB.Tx()
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.g.SubmitOfflineSignature(ctx, a.ID, w.rawSign(w.signer, txB))
	wantCode(t, err, policy.CodeInvalidArgument)
	_, err = w.g.SubmitOfflineSignature(ctx, a.ID, w.sign(w.signer, reqB))
	wantCode(t, err, policy.CodeInvalidArgument)
	// Garbage, an unknown request, a malformed id.
	_, err = w.g.SubmitOfflineSignature(ctx, a.ID, "ur:eth-signature/notbytewords")
	wantCode(t, err, policy.CodeInvalidArgument)
	_, err = w.g.SubmitOfflineSignature(ctx, "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", w.rawSign(w.signer, txA))
	wantCode(t, err, policy.CodeNotFound)
	_, err = w.g.SubmitOfflineSignature(ctx, "not-a-uuid", w.rawSign(w.signer, txA))
	wantCode(t, err, policy.CodeInvalidArgument)
	if n := w.nonce(); n != 0 {
		t.Fatalf("nonce %d: something was sent", n)
	}
	// A and B fix the same nonce: A goes through (its request was not used
	// up by the refusals; hex with v 27/28 is accepted), then B is stale.
	hexSig := common.FromHex(w.rawSign(w.signer, txA))
	hexSig[64] += 27
	outA, err := w.g.SubmitOfflineSignature(ctx, strings.ToUpper(a.ID), "0x"+common.Bytes2Hex(hexSig))
	if err != nil {
		t.Fatalf("A after refusals: %v", err)
	}
	w.waitMined(outA.TxHash)
	_, err = w.g.SubmitOfflineSignature(ctx, b.ID, w.sign(w.signer, reqB))
	wantCode(t, err, policy.CodeConflict)
	if got, want := w.balance(offBob), big.NewInt(5e17); got.Cmp(want) != 0 {
		t.Fatalf("bob got %s, want %s", got, want)
	}
}

// TestOfflineNonceUsedElsewhere: the device's key sent a transaction by
// another route meanwhile; the request's nonce is stale: conflict.
func TestOfflineNonceUsedElsewhere(t *testing.T) {
	w := newOffWorld(t)
	ctx := context.Background()
	r, req := w.request("0.01")
	h := w.signedButNotSentDirect()
	w.waitMined(h)
	_, err := w.g.SubmitOfflineSignature(ctx, r.ID, w.sign(w.signer, req))
	wantCode(t, err, policy.CodeConflict)
}

// signedButNotSentDirect sends a transaction from the account without the
// Guard (another wallet holding the same key).
func (w *offWorld) signedButNotSentDirect() common.Hash {
	w.t.Helper()
	ctx := context.Background()
	fees, err := w.dev.SuggestFees(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: 0, GasTipCap: fees.TipCap, GasFeeCap: fees.FeeCap, Gas: 21000, To: &offBob, Value: big.NewInt(1)})
	signed, err := signer.SignTx(ctx, w.signer, tx, big.NewInt(1337))
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.dev.Send(ctx, signed); err != nil {
		w.t.Fatal(err)
	}
	return signed.Hash()
}

// TestOfflineExpiredAndDenied: an expired request is refused (expired), a
// request above per_tx_max is denied at creation, and a keystore-style
// account cannot make offline requests.
func TestOfflineExpiredAndDenied(t *testing.T) {
	w := newOffWorld(t)
	ctx := context.Background()
	r, req := w.request("0.01")
	if !r.ExpiresAt.After(w.now.Add(9*time.Minute)) || r.ExpiresAt.After(w.now.Add(10*time.Minute)) {
		t.Fatalf("expires at %v, now %v", r.ExpiresAt, w.now)
	}
	w.now = w.now.Add(11 * time.Minute)
	_, err := w.g.SubmitOfflineSignature(ctx, r.ID, w.sign(w.signer, req))
	wantCode(t, err, policy.CodeExpired)
	_, err = w.g.CreateOfflineRequest(ctx, approval.TransferArgs{From: w.from.Hex(), To: offBob.Hex(), Amount: "6"})
	var de *approval.DenyError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "per_tx_max") {
		t.Fatalf("above per_tx_max: %v", err)
	}
	_, err = w.g.CreateOfflineRequest(ctx, approval.TransferArgs{From: offBob.Hex(), To: w.from.Hex(), Amount: "1"})
	wantCode(t, err, policy.CodeUnknownAccount)
	if n := w.nonce(); n != 0 {
		t.Fatalf("nonce %d: something was sent", n)
	}
}

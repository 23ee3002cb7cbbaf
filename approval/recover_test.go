package approval_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer"
	kssigner "github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/wallet"
)

// rcWorld is one chain that outlives several Guard "processes" on one state
// directory: what a crash and restart look like against a real node.
type rcWorld struct {
	t      *testing.T
	dir    string
	dev    *chain.Dev
	from   common.Address
	signer signer.Signer
	key    *ecdsa.PrivateKey // signer's key, for a device that signs otherwise
	policy *policy.Policy
}

func rcNewWorld(t *testing.T) *rcWorld {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := wallet.SealKey(crypto.FromECDSA(key))
	if err != nil {
		t.Fatal(err)
	}
	w := &rcWorld{t: t, dir: t.TempDir(), from: crypto.PubkeyToAddress(key.PublicKey), signer: kssigner.New(sealed), key: key}
	w.dev, err = chain.NewDev(&chain.DevOptions{Alloc: map[common.Address]*big.Int{w.from: new(big.Int).Mul(big.NewInt(100), big.NewInt(1e18))}, MineDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.dev.Close() })
	text := strings.Replace(policy.PolicyTemplate(1337), "new_recipient_approval = true", "new_recipient_approval = false", 1)
	sum := sha256.Sum256([]byte(text))
	if w.policy, err = policy.ParsePolicy([]byte(text), hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	return w
}

// process opens the state and audit log; close them to "crash".
func (w *rcWorld) process() (*store.Store, *audit.Log) {
	w.t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(w.dir, "state.db"), &store.Options{Key: make([]byte, store.KeyLen)})
	if err != nil {
		w.t.Fatal(err)
	}
	lg, err := audit.Open(filepath.Join(w.dir, "audit.log"), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return st, lg
}

// guard starts a Guard (its start-up runs crash recovery).
func (w *rcWorld) guard(st *store.Store, lg *audit.Log) *approval.Guard {
	w.t.Helper()
	return w.guardOn(st, lg, w.dev)
}

// guardOn starts a Guard on chain c (the dev chain behind a test's wrapper).
func (w *rcWorld) guardOn(st *store.Store, lg *audit.Log, c approval.Chain) *approval.Guard {
	w.t.Helper()
	g, err := approval.NewGuard(context.Background(), &approval.Config{
		Policy: w.policy, Chain: c, Store: st, Audit: lg, Keys: approval.KeyMap{w.from: w.signer},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}

// signedButNotSent records a transfer the way execute does up to the moment
// before broadcast: reserved, signed, stored. It returns the signed tx.
func (w *rcWorld) signedButNotSent(st *store.Store, key string, to common.Address, wei int64, nonce uint64) *types.Transaction {
	w.t.Helper()
	ctx := context.Background()
	amount := big.NewInt(wei)
	tr := w.reserve(st, key, to, wei)
	fees, err := w.dev.SuggestFees(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: fees.TipCap, GasFeeCap: fees.FeeCap, Gas: 21000, To: &to, Value: amount})
	signed, err := signer.SignTx(ctx, w.signer, tx, big.NewInt(1337))
	if err != nil {
		w.t.Fatal(err)
	}
	raw, _ := signed.MarshalBinary()
	if err := st.MarkSigned(ctx, tr.ID, nonce, signed.Hash(), raw); err != nil {
		w.t.Fatal(err)
	}
	return signed
}

// reserve records a transfer reserved and not yet signed, with the args hash
// the Guard computes for the same request.
func (w *rcWorld) reserve(st *store.Store, key string, to common.Address, wei int64) *store.Transfer {
	w.t.Helper()
	amount := big.NewInt(wei)
	in := &policy.Intent{ChainID: 1337, From: w.from, To: to, Asset: policy.NativeSymbol, Amount: amount, Decimals: 18, Symbol: "ETH"}
	d := in.Digest()
	ah := sha256.Sum256(append([]byte("walletmcp-idempotency-v1"), d[:]...))
	tr, _, err := st.CreateTransfer(context.Background(), &store.Transfer{IdempotencyKey: key, ArgsHash: ah[:], ChainID: 1337, From: w.from, To: to, Asset: store.AssetETH, Amount: amount, Kind: store.KindAuto})
	if err != nil {
		w.t.Fatal(err)
	}
	return tr
}

func (w *rcWorld) waitMined(h common.Hash) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := w.dev.Receipt(context.Background(), h); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.t.Fatalf("%s not mined", h)
}

func (w *rcWorld) balance(a common.Address) *big.Int {
	w.t.Helper()
	b, _, err := w.dev.Balance(context.Background(), a)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// TestCrashRecoveryNeverSendsTwice: a process that dies after signing (with
// or without having broadcast) or before signing never causes a second
// transfer: on restart the stored bytes are re-broadcast (the same hash) or
// the unsigned reservation is failed, and the idempotency key keeps
// answering with the first outcome.
func TestCrashRecoveryNeverSendsTwice(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	alice := common.HexToAddress("0x00000000000000000000000000000000000A11CE")
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")

	// Process 1 dies: k-signed was signed (nonce 0) but never broadcast;
	// k-sent was signed (nonce 1) and broadcast, but the process died before
	// recording "submitted"; k-pending was reserved and never signed.
	st, lg := w.process()
	notSent := w.signedButNotSent(st, "k-signed", alice, 1e15, 0)
	sent := w.signedButNotSent(st, "k-sent", bob, 2e15, 1)
	w.reserve(st, "k-pending", alice, 5e15)
	// k-sent's bytes reached the node (nonce 1 waits for nonce 0).
	if err := w.dev.Send(ctx, sent); err != nil {
		t.Fatal(err)
	}
	lg.Close()
	st.Close()

	// Process 2 starts: recovery.
	st, lg = w.process()
	defer st.Close()
	defer lg.Close()
	g := w.guard(st, lg)
	w.waitMined(notSent.Hash())
	w.waitMined(sent.Hash())
	// A signed transfer stays signed or submitted (re-broadcast), or is
	// confirmed once a settling pass saw it mined: counted in every case.
	counted := []string{store.StatusSigned, store.StatusSubmitted, store.StatusConfirmed}
	for _, c := range []struct {
		id   string
		want []string
	}{
		{"k-signed", counted},
		{"k-sent", counted},
		{"k-pending", []string{store.StatusFailed}},
	} {
		tr, err := st.TransferByKey(ctx, c.id)
		if err != nil || !slices.Contains(c.want, tr.Status) {
			t.Fatalf("%s after recovery: %v, %v; want one of %v", c.id, tr, err, c.want)
		}
	}
	if got := w.balance(alice); got.Cmp(big.NewInt(1e15)) != 0 {
		t.Fatalf("alice got %s: the unsigned reservation must send nothing, the signed one exactly once", got)
	}
	if got := w.balance(bob); got.Cmp(big.NewInt(2e15)) != 0 {
		t.Fatalf("bob got %s, want exactly one transfer", got)
	}

	// The agent retries with the same keys: the first outcomes, nothing new.
	out, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: alice.Hex(), Amount: "0.001", IdempotencyKey: "k-signed"})
	if err != nil || out.TxHash != notSent.Hash() || !out.Replayed {
		t.Fatalf("retry of k-signed: %+v, %v", out, err)
	}
	out, err = g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.002", IdempotencyKey: "k-sent"})
	if err != nil || out.TxHash != sent.Hash() {
		t.Fatalf("retry of k-sent: %+v, %v", out, err)
	}
	if _, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: alice.Hex(), Amount: "0.005", IdempotencyKey: "k-pending"}); err == nil ||
		policy.CodeOf(err) != policy.CodeConflict || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("retry of the unsigned k-pending: %v (want conflict saying nothing was sent)", err)
	}
	if n, err := w.dev.PendingNonce(ctx, w.from); err != nil || n != 2 {
		t.Fatalf("nonce %d, %v: a retry sent something", n, err)
	}

	// A new transfer after recovery continues the nonce sequence.
	out, err = g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: alice.Hex(), Amount: "0.001"})
	if err != nil {
		t.Fatal(err)
	}
	w.waitMined(out.TxHash)
	if n, _ := w.dev.PendingNonce(ctx, w.from); n != 3 {
		t.Fatalf("nonce %d after one new transfer, want 3", n)
	}
	if got := w.balance(alice); got.Cmp(big.NewInt(2e15)) != 0 {
		t.Fatalf("alice got %s, want 0.002 ETH", got)
	}
}

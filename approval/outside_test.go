package approval_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
	"github.com/walletmcp/walletmcp/signer/offline"
)

// securityLog is an audit log that also keeps the security records.
type securityLog struct {
	approval.Auditor
	mu     sync.Mutex
	events []map[string]any
}

func (l *securityLog) keep(typ string, fields any) {
	if m, ok := fields.(map[string]any); ok && typ == audit.TypeSecurity {
		l.mu.Lock()
		l.events = append(l.events, m)
		l.mu.Unlock()
	}
}

func (l *securityLog) Append(ctx context.Context, typ string, fields any) error {
	l.keep(typ, fields)
	return l.Auditor.Append(ctx, typ, fields)
}

func (l *securityLog) Enqueue(typ string, fields any) error {
	l.keep(typ, fields)
	return l.Auditor.Enqueue(typ, fields)
}

// outside returns the offline_broadcast_outside records.
func (l *securityLog) outside() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, e := range l.events {
		if e["event"] == approval.EventOfflineBroadcastOutside {
			out = append(out, e)
		}
	}
	return out
}

// refusingChain is the dev chain whose node refuses every broadcast while
// refuse is set, and, while pooled is set, reports that transaction pending
// in its pool (and the account's pending nonce one higher).
type refusingChain struct {
	approval.Chain
	refuse atomic.Bool
	mu     sync.Mutex
	pooled *types.Transaction
}

func (c *refusingChain) pool(tx *types.Transaction) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pooled = tx
}

func (c *refusingChain) inPool() *types.Transaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pooled
}

func (c *refusingChain) PendingNonce(ctx context.Context, a common.Address) (uint64, error) {
	n, err := c.Chain.PendingNonce(ctx, a)
	if tx := c.inPool(); err == nil && tx != nil && tx.Nonce() >= n {
		n = tx.Nonce() + 1
	}
	return n, err
}

func (c *refusingChain) TxStatus(ctx context.Context, h common.Hash) (chain.TxStatus, error) {
	if tx := c.inPool(); tx != nil && tx.Hash() == h {
		return chain.TxStatus{Status: chain.StatusPending}, nil
	}
	return c.Chain.TxStatus(ctx, h)
}

func (c *refusingChain) Send(ctx context.Context, tx *types.Transaction) error {
	if c.refuse.Load() {
		return &chain.RejectedError{Reason: "test refusal"}
	}
	return c.Chain.Send(ctx, tx)
}

// outWorld is an offWorld whose Guard's broadcasts can be refused, whose
// security records are kept, and whose store is at hand.
type outWorld struct {
	*offWorld
	st    *store.Store
	log   *securityLog
	chain *refusingChain
}

func newOutWorld(t *testing.T) *outWorld {
	t.Helper()
	return newOutWorldClock(t, false)
}

// newOutWorldClock is newOutWorld; with clocked, the store reads the world's
// clock too, so that days can pass (expiry, the store's retention).
func newOutWorldClock(t *testing.T, clocked bool) *outWorld {
	t.Helper()
	w := &outWorld{offWorld: &offWorld{rcWorld: rcNewWorld(t), now: time.Now()}}
	st, lg := w.process()
	if clocked {
		st.Close()
		var err error
		if st, err = store.Open(context.Background(), filepath.Join(w.dir, "state.db"), &store.Options{Key: make([]byte, store.KeyLen), Now: func() time.Time { return w.now }}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { lg.Close(); st.Close() })
	w.st, w.log, w.chain = st, &securityLog{Auditor: lg}, &refusingChain{Chain: w.dev}
	g, err := approval.NewGuard(context.Background(), &approval.Config{
		Policy: w.policy, Chain: w.chain, Store: st, Audit: w.log, Keys: approval.KeyMap{},
		Offline: map[common.Address]offline.KeyPath{w.from: offline.DefaultPath()},
		Now:     func() time.Time { return w.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	w.g = g
	return w
}

// signedTx assembles req's signed transaction from the device's signature.
func (w *outWorld) signedTx(req *offline.SignRequest) (string, *types.Transaction) {
	w.t.Helper()
	sig := w.sign(w.signer, req)
	_, raw, err := offline.ParseSignature(sig)
	if err != nil {
		w.t.Fatal(err)
	}
	tx, err := req.SignedTx(raw)
	if err != nil {
		w.t.Fatal(err)
	}
	return sig, tx
}

// selfBroadcast plays the hostile agent: it assembles the signed transaction
// from the request and the device's signature and broadcasts it itself,
// without submit_offline_signature, and waits until it is mined.
func (w *outWorld) selfBroadcast(req *offline.SignRequest) (sig string, hash common.Hash) {
	w.t.Helper()
	sig, tx := w.signedTx(req)
	if err := w.dev.Send(context.Background(), tx); err != nil {
		w.t.Fatal(err)
	}
	w.waitMined(tx.Hash())
	return sig, tx.Hash()
}

// pass runs one settling pass a few seconds later.
func (w *outWorld) pass() {
	w.now = w.now.Add(3 * time.Second)
	w.g.Pass(context.Background())
}

// used is the window's ETH total of the account, as get_policy shows it.
func (w *outWorld) used() string {
	w.t.Helper()
	info, err := w.g.PolicyInfo(context.Background(), []common.Address{w.from})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, r := range info.Remaining {
		if r.Asset == policy.NativeSymbol {
			return r.TotalUsed
		}
	}
	w.t.Fatal("no ETH window")
	return ""
}

func (w *outWorld) wantUsed(want string) {
	w.t.Helper()
	if got := w.used(); got != want {
		w.t.Fatalf("window total %s, want %s", got, want)
	}
}

// randomSig signs digest with the account's key as a device whose
// signatures are randomised would (crypto/ecdsa's random nonce; a low s),
// and returns it as [R || S || V].
func (w *outWorld) randomSig(digest []byte) []byte {
	w.t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, w.key, digest)
	if err != nil {
		w.t.Fatal(err)
	}
	n := crypto.S256().Params().N
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, s)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	sig = append(sig, 0)
	for v := range byte(2) {
		sig[64] = v
		if pub, err := crypto.SigToPub(digest, sig); err == nil && crypto.PubkeyToAddress(*pub) == w.from {
			return sig
		}
	}
	w.t.Fatal("no recovery id recovers the account")
	return nil
}

// TestOfflineHoardedSignatureCounted: the agent keeps a signed request's
// signature well past its expiry and the store's day of retention (the
// account sending nothing meanwhile, so the nonce stays free), then
// broadcasts the transaction itself. The sweep still counts it, once, with
// a security record.
func TestOfflineHoardedSignatureCounted(t *testing.T) {
	w := newOutWorldClock(t, true)
	ctx := context.Background()
	a, reqA := w.request("5")
	_, txA := w.signedTx(reqA)
	w.pass()
	w.now = w.now.Add(30 * time.Hour)
	w.pass()
	w.wantUsed("0")
	if err := w.dev.Send(ctx, txA); err != nil {
		t.Fatal(err)
	}
	w.waitMined(txA.Hash())
	w.now = w.now.Add(10 * time.Minute)
	w.pass()
	w.wantUsed("5")
	if ev := w.log.outside(); len(ev) != 1 || ev[0]["request_id"] != a.ID {
		t.Fatalf("security records %v, want one for the hoarded request", ev)
	}
	w.pass()
	w.wantUsed("5")
}

// TestOfflineSignedTwice: a device whose signatures are randomised signs one
// request twice. The wallet is given the first signature (the node refuses
// its broadcast, so it stays counted and unmined) and the agent gets the
// second transaction mined. The wallet's transfer then fails, its nonce used
// by a transaction it does not know, and the request stays counted, as spent
// outside the wallet.
func TestOfflineSignedTwice(t *testing.T) {
	w := newOutWorld(t)
	ctx := context.Background()
	a, reqA := w.request("5")
	unsigned, err := reqA.Tx()
	if err != nil {
		t.Fatal(err)
	}
	h := types.LatestSignerForChainID(unsigned.ChainId()).Hash(unsigned)
	sig1, sig2 := w.randomSig(h[:]), w.randomSig(h[:])
	w.chain.refuse.Store(true)
	_, err = w.g.SubmitOfflineSignature(ctx, a.ID, "0x"+common.Bytes2Hex(sig1))
	wantCode(t, err, policy.CodeChainError)
	w.wantUsed("5")
	tx2, err := reqA.SignedTx(sig2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.dev.Send(ctx, tx2); err != nil {
		t.Fatal(err)
	}
	w.waitMined(tx2.Hash())
	w.now = w.now.Add(10 * time.Minute)
	w.pass()
	w.pass()
	tr, err := w.st.TransferByApproval(ctx, store.OfflineApprovalID(a.ID))
	if err != nil || tr.Status != store.StatusFailed || *tr.TxHash == tx2.Hash() {
		t.Fatalf("the wallet's transfer %+v, %v", tr, err)
	}
	w.wantUsed("5")
	if ev := w.log.outside(); len(ev) != 1 || ev[0]["request_id"] != a.ID {
		t.Fatalf("security records %v, want one for the request", ev)
	}
}

// TestOfflineSelfBroadcastCounted: the agent broadcasts signed requests
// itself, never submitting them. A settling pass counts each as spent (once,
// with one security record), a request whose nonce is still free stays
// uncounted, and once the window is full a further request is denied.
// Submitting such a request afterwards is a conflict naming its transaction,
// and counts nothing more.
func TestOfflineSelfBroadcastCounted(t *testing.T) {
	w := newOutWorld(t)
	ctx := context.Background()
	a, reqA := w.request("5")
	sigA, hashA := w.selfBroadcast(reqA)
	w.pass()
	w.wantUsed("5")
	w.pass()
	w.wantUsed("5")
	if ev := w.log.outside(); len(ev) != 1 || ev[0]["request_id"] != a.ID || ev[0]["from"] != w.from.Hex() {
		t.Fatalf("security records %v, want one for %s", ev, a.ID)
	}
	// B waits on the device: its nonce is free, it is not counted.
	b, reqB := w.request("5")
	if b.Nonce != 1 {
		t.Fatalf("B fixes nonce %d, want 1", b.Nonce)
	}
	w.pass()
	w.wantUsed("5")
	w.selfBroadcast(reqB)
	w.pass()
	w.wantUsed("10")
	if ev := w.log.outside(); len(ev) != 2 {
		t.Fatalf("%d security records, want 2", len(ev))
	}
	// The window is full: the next request is denied.
	_, err := w.g.CreateOfflineRequest(ctx, approval.TransferArgs{From: w.from.Hex(), To: offBob.Hex(), Amount: "0.01"})
	var de *approval.DenyError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "window_max") {
		t.Fatalf("past window_max: %v", err)
	}
	// A submitted late: conflict naming its transaction, counted once.
	_, err = w.g.SubmitOfflineSignature(ctx, a.ID, sigA)
	wantCode(t, err, policy.CodeConflict)
	if !strings.Contains(err.Error(), hashA.Hex()) {
		t.Fatalf("conflict %v does not name %s", err, hashA.Hex())
	}
	w.pass()
	w.wantUsed("10")
	tr, err := w.st.TransferByApproval(ctx, store.OfflineApprovalID(a.ID))
	if err != nil || !tr.OutsideBroadcast() || tr.Status != store.StatusConfirmed || tr.Kind != store.KindApproved {
		t.Fatalf("A's ledger row %+v, %v", tr, err)
	}
}

// TestOfflineSubmitAfterSelfBroadcast: the agent broadcasts the signed
// transaction itself, then submits it before any settling pass: conflict
// naming the transaction, which is counted once (not again by the sweep, nor
// by a second submission), with one security record.
func TestOfflineSubmitAfterSelfBroadcast(t *testing.T) {
	w := newOutWorld(t)
	ctx := context.Background()
	r, req := w.request("1")
	sig, hash := w.selfBroadcast(req)
	for range 2 {
		_, err := w.g.SubmitOfflineSignature(ctx, r.ID, sig)
		wantCode(t, err, policy.CodeConflict)
		if !strings.Contains(err.Error(), hash.Hex()) {
			t.Fatalf("conflict %v does not name %s", err, hash.Hex())
		}
		w.wantUsed("1")
	}
	w.pass()
	w.wantUsed("1")
	if ev := w.log.outside(); len(ev) != 1 || ev[0]["tx_hash"] != hash.Hex() {
		t.Fatalf("security records %v, want one naming %s", ev, hash.Hex())
	}
	tr, err := w.st.TransferByHash(ctx, hash)
	if err != nil || tr.Status != store.StatusConfirmed || !tr.OutsideBroadcast() || tr.Nonce == nil || *tr.Nonce != 0 {
		t.Fatalf("ledger row %+v, %v", tr, err)
	}
}

// TestOfflineRefusedBroadcastStaysCounted: a submitted offline transfer the
// node refuses is answered with the refusal but stays counted (the agent
// holds the signed bytes); the settling loop confirms it once mined. Once
// another transaction used its nonce the transfer fails, and the request
// stays counted, as spent outside the wallet: what used the nonce may be the
// request signed again (TestOfflineSignedTwice).
func TestOfflineRefusedBroadcastStaysCounted(t *testing.T) {
	w := newOutWorld(t)
	ctx := context.Background()
	w.chain.refuse.Store(true)
	a, reqA := w.request("1")
	_, err := w.g.SubmitOfflineSignature(ctx, a.ID, w.sign(w.signer, reqA))
	wantCode(t, err, policy.CodeChainError)
	if !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("refusal %v", err)
	}
	w.wantUsed("1")
	w.pass()
	w.wantUsed("1")
	// The device's key used nonce 0 for another transaction.
	w.waitMined(w.signedButNotSentDirect())
	w.now = w.now.Add(10 * time.Minute)
	w.pass()
	w.pass()
	w.wantUsed("1")
	tr, err := w.st.TransferByApproval(ctx, store.OfflineApprovalID(a.ID))
	if err != nil || tr.Status != store.StatusFailed {
		t.Fatalf("A's row %+v, %v", tr, err)
	}
	if ev := w.log.outside(); len(ev) != 1 || ev[0]["request_id"] != a.ID || ev[0]["found_by"] != "sweep" {
		t.Fatalf("security records %v, want one for A from the sweep", ev)
	}
	w.pass()
	w.wantUsed("1") // once

	// Refused, then the node takes the settling loop's re-broadcast.
	b, reqB := w.request("2")
	_, err = w.g.SubmitOfflineSignature(ctx, b.ID, w.sign(w.signer, reqB))
	wantCode(t, err, policy.CodeChainError)
	w.wantUsed("3") // A stays counted
	w.chain.refuse.Store(false)
	w.pass()
	tr, err = w.st.TransferByApproval(ctx, store.OfflineApprovalID(b.ID))
	if err != nil || tr.TxHash == nil {
		t.Fatalf("B's row %+v, %v", tr, err)
	}
	w.waitMined(*tr.TxHash)
	w.now = w.now.Add(10 * time.Minute)
	w.pass()
	w.wantUsed("3")
	if tr, err = w.st.TransferByApproval(ctx, store.OfflineApprovalID(b.ID)); err != nil || tr.Status != store.StatusConfirmed {
		t.Fatalf("B's row %+v, %v", tr, err)
	}
}

// TestOfflineSubmitWhilePooled: the agent's own broadcast is still in the
// node's pool when it submits: conflict naming the transaction, counted at
// once, and the settling loop follows it to confirmed.
func TestOfflineSubmitWhilePooled(t *testing.T) {
	w := newOutWorld(t)
	ctx := context.Background()
	r, req := w.request("1")
	sig, tx := w.signedTx(req)
	w.chain.pool(tx)
	_, err := w.g.SubmitOfflineSignature(ctx, r.ID, sig)
	wantCode(t, err, policy.CodeConflict)
	if !strings.Contains(err.Error(), tx.Hash().Hex()) {
		t.Fatalf("conflict %v does not name %s", err, tx.Hash().Hex())
	}
	w.wantUsed("1")
	tr, err := w.st.TransferByHash(ctx, tx.Hash())
	if err != nil || tr.Status != store.StatusSigned || !tr.OutsideBroadcast() {
		t.Fatalf("ledger row %+v, %v", tr, err)
	}
	// The pool's transaction is mined; the settling loop confirms it.
	w.chain.pool(nil)
	if err := w.dev.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	w.waitMined(tx.Hash())
	w.pass()
	w.wantUsed("1")
	if tr, err = w.st.TransferByHash(ctx, tx.Hash()); err != nil || tr.Status != store.StatusConfirmed {
		t.Fatalf("ledger row %+v, %v", tr, err)
	}
	if ev := w.log.outside(); len(ev) != 1 {
		t.Fatalf("security records %v, want one", ev)
	}
}

// TestOfflineSubmitFailedBeforeSigning: a submission whose process died after
// reserving and before signing is failed by the settling loop (nothing left
// the wallet), but the agent holds the signature: once it broadcasts the
// transaction itself, the sweep counts it all the same.
func TestOfflineSubmitFailedBeforeSigning(t *testing.T) {
	w := newOutWorld(t)
	ctx := context.Background()
	r, req := w.request("1")
	n := r.Nonce
	// What SubmitOfflineSignature reserves, left by a process that died.
	tr, _, err := w.st.CreateTransfer(ctx, &store.Transfer{ApprovalID: store.OfflineApprovalID(r.ID), ChainID: 1337, From: w.from, To: offBob,
		Asset: store.AssetETH, Amount: big.NewInt(1e18), Kind: store.KindApproved, Nonce: &n})
	if err != nil {
		t.Fatal(err)
	}
	w.wantUsed("1")
	w.pass() // no lease: abandoned at once
	if got, err := w.st.Transfer(ctx, tr.ID); err != nil || got.Status != store.StatusFailed {
		t.Fatalf("reservation %+v, %v", got, err)
	}
	w.wantUsed("0")
	w.selfBroadcast(req)
	w.pass()
	w.wantUsed("1")
	if ev := w.log.outside(); len(ev) != 1 {
		t.Fatalf("security records %v, want one", ev)
	}
	w.pass()
	w.wantUsed("1")
}

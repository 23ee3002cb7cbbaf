package approval_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer"
)

// notImmediate hides the key's signer.Immediate: it stands for an HSM, or
// a key still being unlocked.
type notImmediate struct{ s signer.Signer }

func (n notImmediate) Address() common.Address { return n.s.Address() }
func (n notImmediate) SignDigest(ctx context.Context, d []byte) ([]byte, error) {
	return n.s.SignDigest(ctx, d)
}

// brokenKey says it signs now, then fails to.
type brokenKey struct{ s signer.Signer }

func (b brokenKey) Address() common.Address { return b.s.Address() }
func (b brokenKey) SignsNow() bool          { return true }
func (b brokenKey) SignDigest(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("the device is gone")
}

// noSignatureRecords is an audit log that cannot record a signature.
type noSignatureRecords struct{ *audit.Log }

func (l noSignatureRecords) Append(ctx context.Context, typ string, fields any) error {
	if typ == audit.TypeSignature {
		return errors.New("audit: disk full")
	}
	return l.Log.Append(ctx, typ, fields)
}

// Start fails the wait of a signature record, as Append does.
func (l noSignatureRecords) Start(typ string, fields any) (func(context.Context) error, func()) {
	if typ == audit.TypeSignature {
		return func(context.Context) error { return errors.New("audit: disk full") }, func() {}
	}
	return l.Log.Start(typ, fields)
}

// heldSignatureRecords is an audit log whose signature records are not on
// disk until release is closed (a slow disk, or an agent holding the log's
// lock); started gets a value when one is queued.
type heldSignatureRecords struct {
	*audit.Log
	started chan struct{}
	release chan struct{}
}

func (l heldSignatureRecords) Start(typ string, fields any) (func(context.Context) error, func()) {
	wait, seen := l.Log.Start(typ, fields)
	if typ != audit.TypeSignature {
		return wait, seen
	}
	l.started <- struct{}{}
	return func(ctx context.Context) error {
		select {
		case <-l.release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return wait(ctx)
	}, seen
}

// auditRecord is one line of the audit log, as the tests read it.
type auditRecord struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

func readAudit(t *testing.T, path string) []auditRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []auditRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r auditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// typesOf lists the types of the records about transfer id (a verdict
// names it "id"), in order.
func typesOf(recs []auditRecord, id string) []string {
	var out []string
	for _, r := range recs {
		if r.Data["transfer_id"] == id || r.Type == "verdict" && r.Data["id"] == id {
			out = append(out, r.Type)
		}
	}
	return out
}

// TestImmediateKeySignsInItsReservation: a transfer from a key held in
// memory is reserved and stored signed in one store write, and its
// signature record is on disk before the broadcast; a key that is not
// immediate takes the two writes (reserve, then the signed bytes). Both
// send exactly one transaction, and the audit reads verdict, signature,
// broadcast for each.
func TestImmediateKeySignsInItsReservation(t *testing.T) {
	ctx := context.Background()
	alice := common.HexToAddress("0x00000000000000000000000000000000000A11CE")
	for _, c := range []struct {
		name   string
		key    func(signer.Signer) signer.Signer
		writes uint64
	}{
		{"immediate", func(s signer.Signer) signer.Signer { return s }, 1},
		{"not-immediate", func(s signer.Signer) signer.Signer { return notImmediate{s} }, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := rcNewWorld(t)
			w.signer = c.key(w.signer)
			st, lg := w.process()
			defer st.Close()
			defer lg.Close()
			g := w.guard(st, lg)
			w0, _ := st.Stats()
			out, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: alice.Hex(), Amount: "0.001", IdempotencyKey: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			if w1, _ := st.Stats(); w1-w0 != c.writes {
				t.Fatalf("%d store writes for one transfer, want %d", w1-w0, c.writes)
			}
			tr, err := st.TransferByKey(ctx, "k1")
			if err != nil || tr.Status != store.StatusSigned || tr.TxHash == nil || *tr.TxHash != out.TxHash || len(tr.RawTx) == 0 {
				t.Fatalf("stored transfer %+v, %v; want signed with the sent hash and its bytes", tr, err)
			}
			var stored types.Transaction
			if err := stored.UnmarshalBinary(tr.RawTx); err != nil || stored.Hash() != out.TxHash || stored.Nonce() != 0 {
				t.Fatalf("stored bytes: %v, %v", stored.Hash(), err)
			}
			w.waitMined(out.TxHash)
			if got := w.balance(alice); got.Cmp(big.NewInt(1e15)) != 0 {
				t.Fatalf("alice got %s, want one transfer of 0.001 ETH", got)
			}
			lg.Close()
			if got := typesOf(readAudit(t, filepath.Join(w.dir, "audit.log")), tr.ID); !slices.Equal(got, []string{"verdict", "signature", "broadcast"}) {
				t.Fatalf("audit records of the transfer: %v", got)
			}
		})
	}
}

// TestSignatureThatFailsInItsReservationStoresNothing: a key that says it
// signs now and then fails leaves no row, no nonce and no spend: the
// reservation's write rolls back with it, the key can be used again, and
// nothing reached the node.
func TestSignatureThatFailsInItsReservationStoresNothing(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	good := w.signer
	w.signer = brokenKey{good}
	st, lg := w.process()
	defer st.Close()
	defer lg.Close()
	g := w.guard(st, lg)
	w0, _ := st.Stats()
	args := approval.TransferArgs{From: w.from.Hex(), To: common.HexToAddress("0xa11ce").Hex(), Amount: "0.001", IdempotencyKey: "k1"}
	_, err := g.Send(ctx, args)
	if policy.CodeOf(err) != policy.CodeInternal || !strings.Contains(err.Error(), "signing failed; nothing was recorded or sent") {
		t.Fatalf("send with a key that fails: %v", err)
	}
	if w1, _ := st.Stats(); w1 != w0 {
		t.Fatalf("%d store writes committed for a signature that failed", w1-w0)
	}
	if tr, err := st.TransferByKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a transfer whose signature failed was stored: %+v, %v", tr, err)
	}
	if n, err := w.dev.PendingNonce(ctx, w.from); err != nil || n != 0 {
		t.Fatalf("nonce %d, %v: something was sent", n, err)
	}

	// The same key, from a process whose key signs: nonce 0, one transfer.
	lg.Close()
	st.Close()
	w.signer = good
	st, lg = w.process()
	defer st.Close()
	defer lg.Close()
	out, err := w.guard(st, lg).Send(ctx, args)
	if err != nil || out.Replayed {
		t.Fatalf("the retry: %+v, %v", out, err)
	}
	w.waitMined(out.TxHash)
	if n, _ := w.dev.PendingNonce(ctx, w.from); n != 1 {
		t.Fatalf("nonce %d, want 1", n)
	}
}

// TestSignatureNotAuditedIsNeitherStoredNorSent: when the signature record
// of a transfer signed in its reservation cannot be made durable, the
// reservation does not commit: no row, no signed bytes in the store (where
// anyone who reads the home could take them), no spend, nothing sent.
func TestSignatureNotAuditedIsNeitherStoredNorSent(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	st, lg := w.process()
	defer st.Close()
	defer lg.Close()
	g, err := approval.NewGuard(ctx, &approval.Config{
		Policy: w.policy, Chain: w.dev, Store: st, Audit: noSignatureRecords{lg}, Keys: approval.KeyMap{w.from: w.signer},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: common.HexToAddress("0xa11ce").Hex(), Amount: "0.001", IdempotencyKey: "k1"})
	if err == nil || !strings.Contains(err.Error(), "audit log unavailable; nothing was recorded or sent") {
		t.Fatalf("send without a signature record: %v", err)
	}
	if tr, err := st.TransferByKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the transfer was stored: %+v, %v", tr, err)
	}
	if n, err := w.dev.PendingNonce(ctx, w.from); err != nil || n != 0 {
		t.Fatalf("nonce %d, %v: the transaction was sent", n, err)
	}
}

// TestSignedBytesNotStoredBeforeTheirRecord: while the signature record of
// a transfer signed in its reservation is not on disk, the reservation is
// not committed (another reader of the store sees no row and no bytes);
// once it is, the transfer is stored signed and sent.
func TestSignedBytesNotStoredBeforeTheirRecord(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	st, lg := w.process()
	defer st.Close()
	defer lg.Close()
	held := heldSignatureRecords{Log: lg, started: make(chan struct{}, 1), release: make(chan struct{})}
	g, err := approval.NewGuard(ctx, &approval.Config{Policy: w.policy, Chain: w.dev, Store: st, Audit: held, Keys: approval.KeyMap{w.from: w.signer}})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := store.Open(ctx, filepath.Join(w.dir, "state.db"), &store.Options{Key: make([]byte, store.KeyLen)})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	type result struct {
		out *approval.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: common.HexToAddress("0xa11ce").Hex(), Amount: "0.001", IdempotencyKey: "k1"})
		done <- result{out, err}
	}()
	<-held.started
	time.Sleep(50 * time.Millisecond) // the group reaches its commit condition
	if tr, err := reader.TransferByKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the signed transfer is readable before its signature record is on disk: %+v, %v", tr, err)
	}
	close(held.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	tr, err := reader.TransferByKey(ctx, "k1")
	if err != nil || tr.Status != store.StatusSigned || *tr.TxHash != r.out.TxHash {
		t.Fatalf("after the record: %+v, %v", tr, err)
	}
	w.waitMined(r.out.TxHash)
}

// TestSignedReservationNotCommittedIsNotSent: when the store transaction an
// immediate key signed in does not commit, nothing is stored or sent, and
// the audit log, which got the verdict and the signature while the
// transaction ran, says the transaction was not sent.
func TestSignedReservationNotCommittedIsNotSent(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	st, lg := w.process()
	defer st.Close()
	defer lg.Close()
	// The group's other write is small: the transfer is allowed, signed,
	// and its group does not commit.
	fs := &failedGroupStore{Store: st, from: w.from, to: bob, amount: big.NewInt(1e15)}
	g, err := approval.NewGuard(ctx, &approval.Config{Policy: w.policy, Chain: w.dev, Store: fs, Audit: lg, Keys: approval.KeyMap{w.from: w.signer}})
	if err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	if _, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.01"}); err == nil {
		t.Fatal("a transfer whose reservation did not commit went through")
	}
	if n, err := w.dev.PendingNonce(ctx, w.from); err != nil || n != 0 {
		t.Fatalf("nonce %d, %v: something was sent", n, err)
	}
	lg.Close()
	recs := readAudit(t, filepath.Join(w.dir, "audit.log"))
	var id, hash string
	for _, r := range recs {
		if r.Type == "broadcast" && r.Data["not_sent"] == true {
			id, _ = r.Data["transfer_id"].(string)
			hash, _ = r.Data["tx_hash"].(string)
		}
	}
	if got := typesOf(recs, id); id == "" || !slices.Equal(got, []string{"verdict", "signature", "broadcast"}) {
		t.Fatalf("records of the transfer that was not stored (%q): %v", id, got)
	}
	if tr, err := st.TransferByHash(ctx, common.HexToHash(hash)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the signed transaction was stored: %+v, %v", tr, err)
	}
}

// panickingKey says it signs now, then panics.
type panickingKey struct{ s signer.Signer }

func (p panickingKey) Address() common.Address { return p.s.Address() }
func (p panickingKey) SignsNow() bool          { return true }
func (p panickingKey) SignDigest(context.Context, []byte) ([]byte, error) {
	panic("the key's library crashed")
}

// TestKeyPanicInItsReservation: a key that panics while it signs inside
// the reservation raises the panic in the caller (whose MCP handler reports
// it), stores and sends nothing, and leaves the store and the Guard
// working: the next transfer takes nonce 0.
func TestKeyPanicInItsReservation(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	st, lg := w.process()
	defer st.Close()
	defer lg.Close()
	keys := approval.KeyMap{w.from: panickingKey{w.signer}}
	g, err := approval.NewGuard(ctx, &approval.Config{Policy: w.policy, Chain: w.dev, Store: st, Audit: lg, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	args := approval.TransferArgs{From: w.from.Hex(), To: common.HexToAddress("0xa11ce").Hex(), Amount: "0.001", IdempotencyKey: "k1"}
	func() {
		defer func() {
			if p := recover(); p != "the key's library crashed" {
				t.Fatalf("recovered %v, want the key's panic", p)
			}
		}()
		_, _ = g.Send(ctx, args)
	}()
	if tr, err := st.TransferByKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the transfer whose key panicked was stored: %+v, %v", tr, err)
	}
	keys[w.from] = w.signer
	done := make(chan struct{})
	var out *approval.Outcome
	go func() { defer close(done); out, err = g.Send(ctx, args) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the next transfer never returned: the store's write lock was left held")
	}
	if err != nil {
		t.Fatal(err)
	}
	w.waitMined(out.TxHash)
	if n, _ := w.dev.PendingNonce(ctx, w.from); n != 1 {
		t.Fatalf("nonce %d, want 1", n)
	}
}

// commitUnknownStore commits its next ledger transaction and then reports
// the COMMIT as failed, as a failed fsync after SQLite wrote the WAL does.
type commitUnknownStore struct {
	*store.Store
	once atomic.Bool
}

func (s *commitUnknownStore) Ledger(ctx context.Context, fn func(*store.LedgerTx) error) error {
	err := s.Store.Ledger(ctx, fn)
	if err == nil && s.once.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: %w", store.ErrNotCommitted, store.ErrCommitUnknown)
	}
	return err
}

// TestSignedReservationCommitUnknown: when the COMMIT of a reservation an
// immediate key signed in fails, the transfer may be on disk: the answer and
// the audit say the outcome is unknown (not "not sent"), nothing is sent by
// the call, and the row that did reach the disk is counted.
func TestSignedReservationCommitUnknown(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	st, lg := w.process()
	defer st.Close()
	defer lg.Close()
	g, err := approval.NewGuard(ctx, &approval.Config{Policy: w.policy, Chain: w.dev, Store: &commitUnknownStore{Store: st}, Audit: lg, Keys: approval.KeyMap{w.from: w.signer}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: common.HexToAddress("0xa11ce").Hex(), Amount: "0.001", IdempotencyKey: "k1"})
	if err == nil || !strings.Contains(err.Error(), "whether it reached the disk is unknown") {
		t.Fatalf("send whose commit failed: %v", err)
	}
	if n, err := w.dev.PendingNonce(ctx, w.from); err != nil || n != 0 {
		t.Fatalf("nonce %d, %v: the call sent the transaction", n, err)
	}
	tr, err := st.TransferByKey(ctx, "k1")
	if err != nil || !tr.Counted() {
		t.Fatalf("the row on disk: %+v, %v", tr, err)
	}
	lg.Close()
	var rec map[string]any
	for _, r := range readAudit(t, filepath.Join(w.dir, "audit.log")) {
		if r.Type == "broadcast" && r.Data["transfer_id"] == tr.ID {
			rec = r.Data
		}
	}
	if rec == nil || rec["outcome_unknown"] != true || rec["not_sent"] != nil {
		t.Fatalf("broadcast record of the transfer: %v; want outcome_unknown, not not_sent", rec)
	}
}

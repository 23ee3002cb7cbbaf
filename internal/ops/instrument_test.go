package ops

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/internal/chain"
)

// fakeChain answers Balance, fails Send with a rejection and Receipt with
// not found; any other method panics (the embedded nil interface).
type fakeChain struct{ chain.Chain }

func (fakeChain) ChainID() *big.Int { return big.NewInt(1337) }
func (fakeChain) Balance(context.Context, common.Address) (*big.Int, uint64, error) {
	return big.NewInt(7), 3, nil
}
func (fakeChain) Send(context.Context, *types.Transaction) error {
	return &chain.RejectedError{Reason: "nonce too low"}
}
func (fakeChain) Receipt(context.Context, common.Hash) (*types.Receipt, error) {
	return nil, chain.ErrNotFound
}

// sample returns the sample count (histogram) or value (counter) of the
// metric name whose label key is val, and every label value seen on name.
func sample(t *testing.T, m *Metrics, name, key, val string) (float64, []string) {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	out := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				seen = append(seen, l.GetValue())
				if l.GetName() == key && l.GetValue() == val {
					if h := mt.GetHistogram(); h != nil {
						out = float64(h.GetSampleCount())
					} else {
						out = mt.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return out, seen
}

func TestInstrumentChainObservesByMethod(t *testing.T) {
	m := NewMetrics(nil)
	c := m.InstrumentChain(fakeChain{})
	ctx := context.Background()
	addr := common.HexToAddress("0x00000000000000000000000000000000deadbeef")
	if _, _, err := c.Balance(ctx, addr); err != nil {
		t.Fatal(err)
	}
	err := c.Send(ctx, types.NewTx(&types.DynamicFeeTx{}))
	var rej *chain.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("Send: the rejection is not passed through unchanged: %v", err)
	}
	if _, err := c.Receipt(ctx, common.Hash{}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("Receipt: %v", err)
	}
	if c.ChainID().Int64() != 1337 {
		t.Fatal("ChainID not passed through")
	}
	for _, method := range []string{"balance", "send", "receipt"} {
		if n, _ := sample(t, m, "walletmcp_chain_call_seconds", "method", method); n != 1 {
			t.Errorf("chain_call_seconds{method=%q} has %v samples, want 1", method, n)
		}
	}
	if n, _ := sample(t, m, "walletmcp_chain_call_errors_total", "method", "send"); n != 1 {
		t.Errorf("chain_call_errors_total{method=send} = %v, want 1", n)
	}
	if n, _ := sample(t, m, "walletmcp_chain_call_errors_total", "method", "receipt"); n != 0 {
		t.Errorf("chain_call_errors_total{method=receipt} = %v, want 0 (not found is no failure)", n)
	}
	if n, _ := sample(t, m, "walletmcp_chain_call_errors_total", "method", "balance"); n != 0 {
		t.Errorf("chain_call_errors_total{method=balance} = %v, want 0", n)
	}
	_, seen := sample(t, m, "walletmcp_chain_call_seconds", "method", "")
	for _, v := range seen {
		if strings.Contains(strings.ToLower(v), "deadbeef") {
			t.Errorf("a label holds the address: %q", v)
		}
	}
}

func TestTimeSignerObservesByBackend(t *testing.T) {
	m := NewMetrics(nil)
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := m.TimeSigner(&rawSigner{key: crypto.FromECDSA(k), addr: crypto.PubkeyToAddress(k.PublicKey)}, "hsm")
	if s.Address() != crypto.PubkeyToAddress(k.PublicKey) {
		t.Fatal("Address not passed through")
	}
	digest := crypto.Keccak256([]byte("x"))
	sig, err := s.SignDigest(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 65 {
		t.Fatalf("signature of %d bytes", len(sig))
	}
	if n, _ := sample(t, m, "walletmcp_signing_seconds", "backend", "hsm"); n != 1 {
		t.Errorf("signing_seconds{backend=hsm} has %v samples, want 1", n)
	}
}

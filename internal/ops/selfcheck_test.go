package ops

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// rawSigner signs with key but claims addr (a key swapped under the server
// when addr is not key's).
type rawSigner struct {
	key  []byte
	addr common.Address
}

func (s *rawSigner) Address() common.Address { return s.addr }
func (s *rawSigner) SignDigest(_ context.Context, d []byte) ([]byte, error) {
	k, err := crypto.ToECDSA(s.key)
	if err != nil {
		return nil, err
	}
	return crypto.Sign(d, k)
}

func TestSelfCheckDisablesSwappedKey(t *testing.T) {
	a, _ := crypto.GenerateKey()
	b, _ := crypto.GenerateKey()
	good := &Checked{Signer: &rawSigner{key: crypto.FromECDSA(a), addr: crypto.PubkeyToAddress(a.PublicKey)}, Backend: "keystore"}
	swapped := &Checked{Signer: &rawSigner{key: crypto.FromECDSA(b), addr: crypto.PubkeyToAddress(a.PublicKey)}, Backend: "keystore"}
	res, err := SelfCheck(context.Background(), []*Checked{good}, rand.Reader)
	if err != nil || len(res) != 1 || res[0].Err != nil || good.Disabled() {
		t.Fatalf("good key: %+v %v", res, err)
	}
	res, err = SelfCheck(context.Background(), []*Checked{good, swapped}, rand.Reader)
	if err != nil || len(res) != 2 {
		t.Fatal(res, err)
	}
	if !swapped.Disabled() || good.Disabled() {
		t.Fatalf("disabled: good %v swapped %v", good.Disabled(), swapped.Disabled())
	}
	if _, err := swapped.SignDigest(context.Background(), make([]byte, 32)); !errors.Is(err, ErrKeyDisabled) {
		t.Fatalf("a disabled key signed: %v", err)
	}
}

package signertest_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/signer/signertest"
)

// refSigner is a reference Signer over a plain *ecdsa.PrivateKey, with knobs
// that break it in the ways the suite must catch.
type refSigner struct {
	key       *ecdsa.PrivateKey
	addr      common.Address
	highS     bool // return (r, n-s) with the other recovery id
	vPlus27   bool // return V as 27/28
	ignoreCtx bool // sign even when the context is done
	lenErr    bool // report a bad digest length with an error other than ErrDigestLength
	shortSig  bool // return 64 bytes
}

func (s *refSigner) Address() common.Address { return s.addr }

func (s *refSigner) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil && !s.ignoreCtx {
		return nil, err
	}
	if len(digest) != 32 {
		if s.lenErr {
			return nil, errors.New("bad length")
		}
		return nil, signer.ErrDigestLength
	}
	sig, err := crypto.Sign(digest, s.key)
	if err != nil {
		return nil, err
	}
	switch {
	case s.highS:
		n := crypto.S256().Params().N
		sv := new(big.Int).SetBytes(sig[32:64])
		sv.Sub(n, sv).FillBytes(sig[32:64])
		sig[64] ^= 1
	case s.vPlus27:
		sig[64] += 27
	case s.shortSig:
		sig = sig[:64]
	}
	return sig, nil
}

func newRef(t *testing.T) *refSigner {
	key, err := crypto.HexToECDSA("4646464646464646464646464646464646464646464646464646464646464646")
	if err != nil {
		t.Fatal(err)
	}
	return &refSigner{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
}

// TestReferenceSignerPasses runs the suite on the correct reference signer.
func TestReferenceSignerPasses(t *testing.T) {
	signertest.Run(t, func(t *testing.T) signer.Signer { return newRef(t) })
}

const brokenEnv = "SIGNERTEST_BROKEN"

// brokenSigners are the defects the suite must detect. The wrong-address case
// claims another key's address.
var brokenSigners = map[string]func(*refSigner){
	"highS":     func(s *refSigner) { s.highS = true },
	"vPlus27":   func(s *refSigner) { s.vPlus27 = true },
	"ignoreCtx": func(s *refSigner) { s.ignoreCtx = true },
	"lenErr":    func(s *refSigner) { s.lenErr = true },
	"shortSig":  func(s *refSigner) { s.shortSig = true },
	"wrongAddr": func(s *refSigner) { s.addr = common.HexToAddress("0x1111111111111111111111111111111111111111") },
}

// TestBrokenSignerHelper runs the suite on one broken signer when started by
// TestSuiteCatchesBrokenSigners; otherwise it does nothing.
func TestBrokenSignerHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("helper for TestSuiteCatchesBrokenSigners")
	}
	signertest.Run(t, func(t *testing.T) signer.Signer {
		s := newRef(t)
		brokenSigners[name](s)
		return s
	})
}

// TestSuiteCatchesBrokenSigners checks that the suite can fail: each broken
// signer runs in a child test process, which must fail in the expected subtest.
func TestSuiteCatchesBrokenSigners(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	want := map[string]string{
		"highS":     "SignatureFormat",
		"vPlus27":   "SignatureFormat",
		"ignoreCtx": "CanceledContext",
		"lenErr":    "DigestLength",
		"shortSig":  "SignatureFormat",
		"wrongAddr": "SignatureFormat",
	}
	for name := range brokenSigners {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenSignerHelper$", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child did not fail (err %v):\n%s", err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenSignerHelper/"+want[name]) {
				t.Errorf("child did not fail in %s:\n%s", want[name], out)
			}
		})
	}
}

// Package signertest is the conformance suite every signer.Signer backend
// must pass: keystore, HD and PKCS#11 alike.
//
// # Security model
//
// The suite checks signatures independently of the backend and of package
// signer's own helpers: it recovers public keys with go-ethereum's crypto
// package and transaction senders with types.Sender, and verifies the R‖S‖V
// encoding, low S and the recovery id byte by byte. A backend that passes
// produces only signatures Ethereum nodes accept, from its own address.
package signertest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
)

// Goroutines is the number of goroutines the concurrency check signs from.
const Goroutines = 16

var (
	curveN     = crypto.S256().Params().N
	curveHalfN = new(big.Int).Rsh(curveN, 1)
)

// Run runs the conformance suite as subtests of t. newSigner is called once
// per subtest and must return a ready Signer (t.Cleanup may release it); all
// the Signers it returns may share one key.
//
// The suite checks: a signature is 65 bytes, V is 0 or 1, S is low, and it
// recovers to Address() (crypto.SigToPub and crypto.Ecrecover) for many
// digests, including all-zero, all-0xff and values at and above the group
// order; a digest of any other length fails with signer.ErrDigestLength; a
// canceled context fails with context.Canceled and no signature; SignTx of
// EIP-1559 and EIP-155 legacy transactions yields transactions whose
// types.Sender is Address() on several chains; SignDigest from Goroutines
// goroutines at once is correct (run with -race to check it is race-free).
func Run(t *testing.T, newSigner func(t *testing.T) signer.Signer) {
	t.Run("SignatureFormat", func(t *testing.T) { testSignatureFormat(t, newSigner(t)) })
	t.Run("DigestLength", func(t *testing.T) { testDigestLength(t, newSigner(t)) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceledContext(t, newSigner(t)) })
	t.Run("SignTxDynamicFee", func(t *testing.T) { testSignTxDynamicFee(t, newSigner(t)) })
	t.Run("SignTxLegacyEIP155", func(t *testing.T) { testSignTxLegacy(t, newSigner(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newSigner(t)) })
}

// Digests returns the digests the suite signs: edge values first, then
// Keccak-256 hashes of counters. It is exported so backends can reuse it in
// their own tests and benchmarks.
func Digests() [][]byte {
	var ds [][]byte
	ds = append(ds, make([]byte, 32))               // all zero
	ds = append(ds, bytes.Repeat([]byte{0xff}, 32)) // all 0xff (above the group order)
	one := make([]byte, 32)
	one[31] = 1
	ds = append(ds, one)
	ds = append(ds, curveN.FillBytes(make([]byte, 32)))                                  // n
	ds = append(ds, new(big.Int).Sub(curveN, big.NewInt(1)).FillBytes(make([]byte, 32))) // n-1
	ds = append(ds, curveHalfN.FillBytes(make([]byte, 32)))                              // n/2
	high := make([]byte, 32)
	high[0] = 0x80
	ds = append(ds, high)
	for i := range 57 {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		ds = append(ds, crypto.Keccak256([]byte("walletmcp signertest"), b[:]))
	}
	return ds
}

// checkSignature verifies sig over digest against addr without using
// package signer. It reports through t and returns false on failure.
func checkSignature(t testing.TB, digest, sig []byte, addr common.Address) bool {
	t.Helper()
	if len(sig) != 65 {
		t.Errorf("digest %x: signature is %d bytes, want 65", digest, len(sig))
		return false
	}
	ok := true
	if v := sig[64]; v != 0 && v != 1 {
		t.Errorf("digest %x: V = %d, want 0 or 1", digest, v)
		ok = false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:64])
	if r.Sign() == 0 || r.Cmp(curveN) >= 0 {
		t.Errorf("digest %x: R out of range", digest)
		ok = false
	}
	if s.Sign() == 0 || s.Cmp(curveHalfN) > 0 {
		t.Errorf("digest %x: S is zero or high (S > n/2)", digest)
		ok = false
	}
	if !crypto.ValidateSignatureValues(sig[64], r, s, true) {
		t.Errorf("digest %x: go-ethereum rejects the signature values", digest)
		ok = false
	}
	if !ok {
		return false
	}
	pub, err := crypto.SigToPub(digest, sig)
	if err != nil {
		t.Errorf("digest %x: SigToPub: %v", digest, err)
		return false
	}
	if got := crypto.PubkeyToAddress(*pub); got != addr {
		t.Errorf("digest %x: signature recovers to %v, want %v", digest, got, addr)
		return false
	}
	raw, err := crypto.Ecrecover(digest, sig)
	if err != nil {
		t.Errorf("digest %x: Ecrecover: %v", digest, err)
		return false
	}
	if !bytes.Equal(raw, crypto.FromECDSAPub(pub)) {
		t.Errorf("digest %x: Ecrecover and SigToPub disagree", digest)
		return false
	}
	if !crypto.VerifySignature(raw, digest, sig[:64]) {
		t.Errorf("digest %x: VerifySignature rejects the signature", digest)
		return false
	}
	// The other recovery id must not also give the address: V is the right one.
	flipped := bytes.Clone(sig)
	flipped[64] ^= 1
	if pub2, err := crypto.SigToPub(digest, flipped); err == nil && crypto.PubkeyToAddress(*pub2) == addr {
		t.Errorf("digest %x: both recovery ids recover the address", digest)
		return false
	}
	return true
}

func testSignatureFormat(t *testing.T, s signer.Signer) {
	addr := s.Address()
	if addr == (common.Address{}) {
		t.Fatal("Address() is the zero address")
	}
	ctx := context.Background()
	for _, d := range Digests() {
		in := bytes.Clone(d)
		sig, err := s.SignDigest(ctx, in)
		if err != nil {
			t.Errorf("SignDigest(%x): %v", d, err)
			continue
		}
		if !bytes.Equal(in, d) {
			t.Errorf("SignDigest modified the digest %x", d)
		}
		checkSignature(t, d, sig, addr)
	}
	if s.Address() != addr {
		t.Error("Address() changed while signing")
	}
}

func testDigestLength(t *testing.T, s signer.Signer) {
	ctx := context.Background()
	for _, n := range []int{-1, 0, 1, 20, 31, 33, 64, 65} {
		var d []byte
		if n >= 0 {
			d = bytes.Repeat([]byte{0x42}, n)
		}
		sig, err := s.SignDigest(ctx, d)
		if !errors.Is(err, signer.ErrDigestLength) {
			t.Errorf("SignDigest of a %d-byte digest: err = %v, want signer.ErrDigestLength", len(d), err)
		}
		if sig != nil {
			t.Errorf("SignDigest of a %d-byte digest returned a signature", len(d))
		}
	}
}

func testCanceledContext(t *testing.T, s signer.Signer) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := crypto.Keccak256([]byte("canceled"))
	sig, err := s.SignDigest(ctx, d)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("SignDigest with a canceled context: err = %v, want context.Canceled", err)
	}
	if sig != nil {
		t.Error("SignDigest with a canceled context returned a signature")
	}
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Gas: 21000})
	if _, err := signer.SignTx(ctx, s, tx, big.NewInt(1337)); !errors.Is(err, context.Canceled) {
		t.Errorf("SignTx with a canceled context: err = %v, want context.Canceled", err)
	}
}

// chainIDs are the chains the transaction checks sign for: dev, mainnet, and
// one whose EIP-155 V does not fit in a byte or 32 bits.
var chainIDs = []int64{1337, 1, 11155111, 1 << 40}

func checkTx(t *testing.T, s signer.Signer, tx *types.Transaction, chainID *big.Int) {
	t.Helper()
	signed, err := signer.SignTx(context.Background(), s, tx, chainID)
	if err != nil {
		t.Errorf("SignTx (type %d, chain %v): %v", tx.Type(), chainID, err)
		return
	}
	if signed.Type() != tx.Type() {
		t.Errorf("signed tx has type %d, want %d", signed.Type(), tx.Type())
	}
	if signed.ChainId().Cmp(chainID) != 0 || !signed.Protected() {
		t.Errorf("signed tx: chain id %v protected %v, want %v and true", signed.ChainId(), signed.Protected(), chainID)
	}
	ethSigner := types.LatestSignerForChainID(chainID)
	from, err := types.Sender(ethSigner, signed)
	if err != nil {
		t.Errorf("types.Sender: %v", err)
		return
	}
	if from != s.Address() {
		t.Errorf("tx sender %v, want %v", from, s.Address())
	}
	// Round trip through the wire encoding, as a node would receive it.
	raw, err := signed.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back types.Transaction
	if err := back.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	if from, err := types.Sender(types.LatestSignerForChainID(chainID), &back); err != nil || from != s.Address() {
		t.Errorf("decoded tx: sender %v, %v; want %v", from, err, s.Address())
	}
	if back.Hash() != signed.Hash() || signed.Hash() == tx.Hash() {
		t.Error("tx hash did not survive encoding, or signing did not change it")
	}
	_, _, sv := signed.RawSignatureValues()
	if sv.Cmp(curveHalfN) > 0 {
		t.Error("tx signature has high S")
	}
}

func testSignTxDynamicFee(t *testing.T, s signer.Signer) {
	to := common.HexToAddress("0x00000000000000000000000000000000c0ffee00")
	for i, id := range chainIDs {
		chainID := big.NewInt(id)
		tx := types.NewTx(&types.DynamicFeeTx{
			ChainID:   chainID,
			Nonce:     uint64(i),
			GasTipCap: big.NewInt(1_000_000_000),
			GasFeeCap: big.NewInt(30_000_000_000),
			Gas:       21000,
			To:        &to,
			Value:     big.NewInt(1e17),
		})
		checkTx(t, s, tx, chainID)
	}
	// A contract call with data and an access list.
	chainID := big.NewInt(1337)
	checkTx(t, s, types.NewTx(&types.DynamicFeeTx{
		ChainID: chainID, Nonce: 7, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(2), Gas: 60000,
		To:         &to,
		Data:       common.FromHex("0xa9059cbb000000000000000000000000000000000000000000000000000000000000c0de0000000000000000000000000000000000000000000000000000000000000001"),
		AccessList: types.AccessList{{Address: to, StorageKeys: []common.Hash{{1}}}},
	}), chainID)
}

func testSignTxLegacy(t *testing.T, s signer.Signer) {
	to := common.HexToAddress("0x00000000000000000000000000000000c0ffee00")
	for i, id := range chainIDs {
		tx := types.NewTx(&types.LegacyTx{
			Nonce:    uint64(i),
			GasPrice: big.NewInt(20_000_000_000),
			Gas:      21000,
			To:       &to,
			Value:    big.NewInt(1e17),
		})
		checkTx(t, s, tx, big.NewInt(id))
	}
}

func testConcurrent(t *testing.T, s signer.Signer) {
	const perGoroutine = 8
	addr := s.Address()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perGoroutine {
				d := crypto.Keccak256([]byte{byte(g), byte(i)}, []byte("concurrent"))
				sig, err := s.SignDigest(ctx, d)
				if err != nil {
					t.Errorf("goroutine %d: SignDigest: %v", g, err)
					return
				}
				if !checkSignature(t, d, sig, addr) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Package hd derives Ethereum accounts from a BIP-39 seed along BIP-44,
// m/44'/60'/0'/0/N, with btcutil/hdkeychain, and checks the seeds that
// package wallet's HDVault stores. It is apart from package wallet because
// hdkeychain links btcutil, which links network code that the offline
// signer (cmd/airsign, which uses wallet's keystore) must not contain.
//
// # Security model
//
// The seed is taken as a byte slice and never retained. Every extended key
// on the way (master, m/44', m/44'/60', m/44'/60'/0', m/44'/60'/0'/0 and each
// child) is zeroed with Zero() as soon as it is no longer needed; each child
// scalar is copied out of btcec's PrivateKey with PutBytesUnchecked into a
// buffer that is wiped once the key is sealed (wallet.SealKey), and the
// PrivateKey is zeroed. No key is ever converted to a Go string.
//
// hdkeychain itself leaves copies that it does not wipe
// (btcutil@v1.2.0/hdkeychain/extendedkey.go): NewMaster's HMAC state holds
// the seed (line 661: hmac512.Write(seed)); Derive's data buffer and HMAC
// state hold a hardened child's parent key (lines 257, 279); the left half of
// each HMAC output stays in the chain code's array (lines 280, 286); and
// pubKeyBytes' btcec.PrivateKey of the parent (line 157) is not zeroed. They
// are garbage once derivation returns, gone only when the allocator reuses
// their memory, so a long-running process should derive in a short-lived
// helper process: walletmcp serve does, and a test reading the memory of a
// running serve finds none of them.
package hd

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/wallet"
)

// MaxIndex is the largest account index N of m/44'/60'/0'/0/N (indexes at
// and above 2^31 would be hardened).
const MaxIndex = hdkeychain.HardenedKeyStart - 1

// Path returns the BIP-44 path of Ethereum account index: m/44'/60'/0'/0/index.
func Path(index uint32) string {
	return "m/44'/60'/0'/0/" + strconv.FormatUint(uint64(index), 10)
}

// ParsePath returns N of a path m/44'/60'/0'/0/N, the only form walletmcp
// derives.
func ParsePath(path string) (uint32, error) {
	const prefix = "m/44'/60'/0'/0/"
	if len(path) <= len(prefix) || path[:len(prefix)] != prefix {
		return 0, errors.New("hd: derivation path must be m/44'/60'/0'/0/N")
	}
	n, err := strconv.ParseUint(path[len(prefix):], 10, 31)
	if err != nil || strconv.FormatUint(n, 10) != path[len(prefix):] {
		return 0, errors.New("hd: derivation path must be m/44'/60'/0'/0/N")
	}
	return uint32(n), nil
}

// DeriveKeys derives the private keys m/44'/60'/0'/0/N of seed for each N
// in indexes and returns them sealed, in order. Every extended key on the way
// (master, m/44', m/44'/60', m/44'/60'/0', m/44'/60'/0'/0 and each child) is
// zeroed with Zero() as soon as it is no longer needed, and each child scalar
// is copied out of btcec's PrivateKey into a buffer that is wiped after
// sealing. seed is not modified or retained.
//
// hdkeychain keeps copies it does not wipe: see the package's security
// model.
func DeriveKeys(seed []byte, indexes []uint32) ([]*wallet.SealedKey, error) {
	out := make([]*wallet.SealedKey, 0, len(indexes))
	err := withAccountKey(seed, func(acct *hdkeychain.ExtendedKey) error {
		for _, n := range indexes {
			k, err := deriveChild(acct, n)
			if err != nil {
				return err
			}
			out = append(out, k)
		}
		return nil
	})
	if err != nil {
		for _, k := range out {
			k.Destroy()
		}
		return nil, err
	}
	return out, nil
}

// DeriveAddresses returns the addresses of m/44'/60'/0'/0/N for each N in
// indexes, wiping every key it makes.
func DeriveAddresses(seed []byte, indexes []uint32) ([]common.Address, error) {
	keys, err := DeriveKeys(seed, indexes)
	if err != nil {
		return nil, err
	}
	addrs := make([]common.Address, len(keys))
	for i, k := range keys {
		addrs[i] = k.Address()
		k.Destroy()
	}
	return addrs, nil
}

// withAccountKey derives m/44'/60'/0'/0 from seed, calls fn with it and
// zeroes it and every key above it.
func withAccountKey(seed []byte, fn func(*hdkeychain.ExtendedKey) error) error {
	if len(seed) != wallet.SeedLength {
		return errors.New("hd: the seed must be 64 bytes")
	}
	// The version bytes only matter for Bitcoin's xprv serialisation, which
	// is never made here.
	master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		return errors.New("hd: unusable seed")
	}
	key := master
	for _, i := range []uint32{
		hdkeychain.HardenedKeyStart + 44,
		hdkeychain.HardenedKeyStart + 60,
		hdkeychain.HardenedKeyStart + 0,
		0,
	} {
		child, err := key.Derive(i)
		key.Zero()
		if err != nil {
			return fmt.Errorf("hd: derive: %w", err)
		}
		key = child
	}
	defer key.Zero()
	return fn(key)
}

// deriveChild derives acct/n and seals its private key.
func deriveChild(acct *hdkeychain.ExtendedKey, n uint32) (*wallet.SealedKey, error) {
	if n > MaxIndex {
		return nil, errors.New("hd: index must be below 2^31")
	}
	child, err := acct.Derive(n)
	if err != nil {
		return nil, fmt.Errorf("hd: derive index %d: %w", n, err)
	}
	defer child.Zero()
	priv, err := child.ECPrivKey()
	if err != nil {
		return nil, fmt.Errorf("hd: derive index %d: %w", n, err)
	}
	defer priv.Zero()
	buf := make([]byte, wallet.PrivateKeyLength)
	defer secret.Wipe(buf)
	priv.Key.PutBytesUnchecked(buf)
	return wallet.SealKey(buf)
}

// CreateWallet stores seed in v as a new wallet called label (see
// wallet.HDVault.Create), with the address of m/44'/60'/0'/0/0 that
// recognises the same seed stored twice.
func CreateWallet(v *wallet.HDVault, label string, seed, pass *secret.Bytes) (*wallet.HDWallet, error) {
	addrs, err := DeriveAddresses(seed.Reveal(), []uint32{0})
	if err != nil {
		return nil, err
	}
	return v.Create(label, seed, addrs[0], pass)
}

// OpenSeed decrypts w's seed with pass (see wallet.HDVault.OpenSeed) and
// checks that it derives w's first address: a seed that does not is
// wallet.ErrKeyMismatch. The caller wipes the seed.
func OpenSeed(v *wallet.HDVault, w *wallet.HDWallet, pass *secret.Bytes) (*secret.Bytes, error) {
	s, err := v.OpenSeed(w, pass)
	if err != nil {
		return nil, err
	}
	addrs, err := DeriveAddresses(s.Reveal(), []uint32{0})
	if err != nil || addrs[0] != w.Address0 {
		s.Wipe()
		if err != nil {
			return nil, err
		}
		return nil, wallet.ErrKeyMismatch
	}
	return s, nil
}

package wallet

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// MaxHDIndex is the largest account index N of m/44'/60'/0'/0/N (indexes at
// and above 2^31 would be hardened).
const MaxHDIndex = hdkeychain.HardenedKeyStart - 1

// HDPath returns the BIP-44 path of Ethereum account index: m/44'/60'/0'/0/index.
func HDPath(index uint32) string {
	return "m/44'/60'/0'/0/" + strconv.FormatUint(uint64(index), 10)
}

// ParseHDPath returns N of a path m/44'/60'/0'/0/N, the only form walletmcp
// derives.
func ParseHDPath(path string) (uint32, error) {
	const prefix = "m/44'/60'/0'/0/"
	if len(path) <= len(prefix) || path[:len(prefix)] != prefix {
		return 0, errors.New("wallet: derivation path must be m/44'/60'/0'/0/N")
	}
	n, err := strconv.ParseUint(path[len(prefix):], 10, 31)
	if err != nil || strconv.FormatUint(n, 10) != path[len(prefix):] {
		return 0, errors.New("wallet: derivation path must be m/44'/60'/0'/0/N")
	}
	return uint32(n), nil
}

// DeriveHDKeys derives the private keys m/44'/60'/0'/0/N of seed for each N
// in indexes and returns them sealed, in order. Every extended key on the way
// (master, m/44', m/44'/60', m/44'/60'/0', m/44'/60'/0'/0 and each child) is
// zeroed with Zero() as soon as it is no longer needed, and each child scalar
// is copied out of btcec's PrivateKey into a buffer that is wiped after
// sealing. seed is not modified or retained.
//
// hdkeychain keeps copies it does not wipe (see the package's security
// model): its HMAC states (the seed in NewMaster, each hardened parent's key
// in Derive), Derive's input buffer, the left half of each HMAC output, and
// the btcec.PrivateKey that pubKeyBytes makes of a parent key.
func DeriveHDKeys(seed []byte, indexes []uint32) ([]*SealedKey, error) {
	out := make([]*SealedKey, 0, len(indexes))
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

// DeriveHDAddresses returns the addresses of m/44'/60'/0'/0/N for each N in
// indexes, wiping every key it makes.
func DeriveHDAddresses(seed []byte, indexes []uint32) ([]common.Address, error) {
	keys, err := DeriveHDKeys(seed, indexes)
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
	if len(seed) != SeedLength {
		return errors.New("wallet: hd: the seed must be 64 bytes")
	}
	// The version bytes only matter for Bitcoin's xprv serialisation, which
	// is never made here.
	master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		return errors.New("wallet: hd: unusable seed")
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
			return fmt.Errorf("wallet: hd: derive: %w", err)
		}
		key = child
	}
	defer key.Zero()
	return fn(key)
}

// deriveChild derives acct/n and seals its private key.
func deriveChild(acct *hdkeychain.ExtendedKey, n uint32) (*SealedKey, error) {
	if n > MaxHDIndex {
		return nil, errors.New("wallet: hd: index must be below 2^31")
	}
	child, err := acct.Derive(n)
	if err != nil {
		return nil, fmt.Errorf("wallet: hd: derive index %d: %w", n, err)
	}
	defer child.Zero()
	priv, err := child.ECPrivKey()
	if err != nil {
		return nil, fmt.Errorf("wallet: hd: derive index %d: %w", n, err)
	}
	defer priv.Zero()
	buf := make([]byte, PrivateKeyLength)
	defer secret.Wipe(buf)
	priv.Key.PutBytesUnchecked(buf)
	return SealKey(buf)
}

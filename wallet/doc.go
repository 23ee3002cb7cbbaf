// Package wallet holds key material at rest and in memory: Web3 Secret
// Storage (V3) keystore files encrypted with scrypt, BIP-39 mnemonics on
// byte slices, the encrypted seed vault (HDVault),
// and SealedKey, the form a private key takes in memory between signatures.
//
// A Keystore is a directory of V3 key files in go-ethereum's layout (one file
// per key, named UTC--<time>--<address>), readable and writable by geth and
// other V3 tools. The cryptography of the format (scrypt or PBKDF2,
// AES-128-CTR, the Keccak-256 MAC) is go-ethereum's accounts/keystore code;
// this package adds bounded parsing, refusal of duplicate and mismatched keys,
// atomic private file writes, and the in-memory sealing described below.
//
// # Security model
//
// Files. Key files are written 0600 into a directory created 0700, first to a
// hidden temporary file that is renamed into place, so a crash never leaves a
// half-written key file in place. A file is read only up to MaxKeyFileSize
// bytes and its KDF parameters are checked against fixed bounds before any key
// derivation runs, so a hostile file cannot exhaust memory or time. After
// decryption the key's address must match the address the file claims, which
// stops a swapped file from silently signing as another account.
//
// Memory. Unlock derives the key once (scrypt) and returns a SealedKey: the 32
// private key bytes encrypted with AES-256-GCM under a key drawn from
// crypto/rand for that SealedKey alone, the address as additional data. Open
// decrypts into a fresh buffer for the duration of one callback (one
// signature) and wipes the buffer afterwards, also when the callback panics;
// Destroy wipes the sealing key and the ciphertext. This is defence in depth
// in the manner of memguard's Enclave: the sealing key lives in the same
// process, so it does not stop an attacker who can read all of the process's
// memory, but it keeps the plaintext key out of heap dumps, core files and
// stray copies except during a signature. The sealed key is not locked into
// RAM (no mlock), so it may reach swap in its sealed form.
//
// Passphrases are taken as *secret.Bytes and are never retained or wiped by
// this package: the caller owns them. go-ethereum's decryption API takes the
// passphrase as a Go string, which is immutable and cannot be wiped; the
// decrypting functions here convert it thinly at that one call, so an
// unwipeable copy of the passphrase lives on the heap until the garbage
// collector reuses its memory. go-ethereum's KDF code makes further []byte
// copies of its own. Encryption uses go-ethereum's EncryptDataV3, which takes
// the passphrase and the key as byte slices, so no string copy is made there.
//
// The big.Int words of every ecdsa.PrivateKey built here are zeroed after
// use. Copies made inside go-ethereum or the Go runtime (curve arithmetic,
// cgo buffers) are outside this package's reach; wiping narrows the window in
// which a key is readable, it does not close it.
//
// HD wallets. A mnemonic, its entropy and the seed are held only in byte
// slices that are wiped after use, never in Go strings: go-bip39 is used only
// for its English word list, the mnemonic is built into one buffer of its
// final size and parsed byte by byte (a wrong word is reported by position),
// and the seed is computed with PBKDF2-HMAC-SHA512 written over crypto/hmac,
// because x/crypto/pbkdf2 and crypto/pbkdf2 take the password as a string.
// crypto/hmac keeps the HMAC key XORed with the pad constants (ipad, opad) in
// its state, so SeedFromMnemonic leaves the mnemonic, so masked, in garbage
// when it is at most 128 bytes long (12 to 18 words). BIP-32/44 derivation
// is in package wallet/hd (hdkeychain links network code that the offline
// signer, which uses this package, must not contain). The seed vault
// (HDVault) encrypts the 64-byte seed like a V3 key file (scrypt,
// AES-128-CTR, Keccak-256 MAC) with the home passphrase; the mnemonic is
// never stored.
//
// Errors never contain a passphrase, a private key or the text of an input
// that may be one (a hex key that fails to parse is reported by its shape,
// not its content). SealedKey and Keystore print only an address or a
// directory under every fmt verb.
package wallet

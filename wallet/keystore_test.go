package wallet_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gethks "github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/wallet"
)

// Test secrets. The leak tests look for them in every error and printout.
const (
	testPass   = "correct horse battery staple"
	testKeyHex = "289c2857d4598e37fb9647507e47a309d6133539bf21a8b9cb6df88fd5232032"
)

func pass(s string) *secret.Bytes { return secret.CopyBytes([]byte(s)) }

// cheapScryptN and cheapScryptP make scrypt nearly free, so that the many
// writes and unlocks below stay fast under the race detector. Tests that
// check geth's light parameters use LightKeystoreOptions.
const cheapScryptN, cheapScryptP = 1 << 4, 1

func cheapOptions() *wallet.KeystoreOptions {
	return &wallet.KeystoreOptions{ScryptN: cheapScryptN, ScryptP: cheapScryptP}
}

func newKeystore(t *testing.T) *wallet.Keystore {
	t.Helper()
	return wallet.NewKeystore(filepath.Join(t.TempDir(), "keystore"), cheapOptions())
}

func addrOfHex(t *testing.T, keyHex string) common.Address {
	t.Helper()
	k, err := crypto.HexToECDSA(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(k.PublicKey)
}

// openHex unseals k and returns its private key as hex.
func openHex(t *testing.T, k *wallet.SealedKey) string {
	t.Helper()
	var out string
	if err := k.Open(func(priv []byte) error {
		out = hex.EncodeToString(priv)
		return nil
	}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return out
}

func TestNewWritesGethLayout(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "keystore")
	now := time.Date(2026, 3, 4, 5, 6, 7, 89, time.FixedZone("X", 3600))
	opts := wallet.LightKeystoreOptions()
	opts.Now = func() time.Time { return now }
	ks := wallet.NewKeystore(dir, opts)

	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("NewKeystore touched the disk: %v", err)
	}
	addr, err := ks.New(pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d entries in keystore dir, want 1", len(entries))
	}
	want := "UTC--2026-03-04T04-06-07.000000089Z--" + hex.EncodeToString(addr[:])
	if got := entries[0].Name(); got != want {
		t.Errorf("file name %q, want %q", got, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Crypto struct{ KDFParams struct{ N, P int } }
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.Crypto.KDFParams.N != gethks.LightScryptN || f.Crypto.KDFParams.P != gethks.LightScryptP {
		t.Errorf("written with n=%d p=%d, want geth's light parameters", f.Crypto.KDFParams.N, f.Crypto.KDFParams.P)
	}
	info, err := entries[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", info.Mode().Perm())
	}
	accs, err := ks.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(accs, []common.Address{addr}) {
		t.Errorf("Accounts = %v, want [%v]", accs, addr)
	}
	k, err := ks.Unlock(addr, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Destroy()
	if k.Address() != addr {
		t.Errorf("unlocked %v, want %v", k.Address(), addr)
	}
	if got := addrOfHex(t, openHex(t, k)); got != addr {
		t.Errorf("key belongs to %v, want %v", got, addr)
	}
}

func TestNewFileNameFormat(t *testing.T) {
	ks := newKeystore(t)
	if _, err := ks.New(pass(testPass)); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(ks.Dir())
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^UTC--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{9}Z--[0-9a-f]{40}$`)
	if len(entries) != 1 || !re.MatchString(entries[0].Name()) {
		t.Fatalf("entries %v, want one file matching %v", entries, re)
	}
}

// TestNewUsesRand checks that New draws its key from Options.Rand, and that
// rejection sampling skips a candidate outside [1, n-1].
func TestNewUsesRand(t *testing.T) {
	key, _ := hex.DecodeString(testKeyHex)
	zero := make([]byte, 32)
	opts := cheapOptions()
	opts.Rand = bytes.NewReader(append(zero, key...))
	ks := wallet.NewKeystore(t.TempDir(), opts)
	addr, err := ks.New(pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if want := addrOfHex(t, testKeyHex); addr != want {
		t.Errorf("New = %v, want %v", addr, want)
	}
	// An exhausted source is an error, not a weak key.
	if _, err := ks.New(pass(testPass)); err == nil {
		t.Error("New with an exhausted random source succeeded")
	}
}

func TestImportHex(t *testing.T) {
	want := addrOfHex(t, testKeyHex)
	for _, tc := range []struct{ name, in string }{
		{"plain", testKeyHex},
		{"0x", "0x" + testKeyHex},
		{"0X upper", "0X" + strings.ToUpper(testKeyHex)},
		{"whitespace", " \t0x" + testKeyHex + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := newKeystore(t)
			addr, err := ks.ImportHex(pass(tc.in), pass(testPass))
			if err != nil {
				t.Fatal(err)
			}
			if addr != want {
				t.Fatalf("ImportHex = %v, want %v", addr, want)
			}
			k, err := ks.Unlock(addr, pass(testPass))
			if err != nil {
				t.Fatal(err)
			}
			defer k.Destroy()
			if got := openHex(t, k); got != testKeyHex {
				t.Error("unlocked key differs from the imported one")
			}
		})
	}
}

func TestImportHexRejects(t *testing.T) {
	n := "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"short", testKeyHex[:63]},
		{"long", testKeyHex + "0"},
		{"not hex", "zz" + testKeyHex[2:]},
		{"inner space", testKeyHex[:32] + " " + testKeyHex[33:]},
		{"double prefix", "0x0x" + testKeyHex[4:]},
		{"zero", strings.Repeat("0", 64)},
		{"order n", n},
		{"above n", strings.Repeat("f", 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := newKeystore(t)
			_, err := ks.ImportHex(pass(tc.in), pass(testPass))
			if !errors.Is(err, wallet.ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
			if tc.in != "" && strings.Contains(err.Error(), tc.in) {
				t.Errorf("error %q echoes the input", err)
			}
			if accs, _ := ks.Accounts(); len(accs) != 0 {
				t.Errorf("a rejected key was written: %v", accs)
			}
		})
	}
}

func TestImportDuplicate(t *testing.T) {
	ks := newKeystore(t)
	addr, err := ks.ImportHex(pass(testKeyHex), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.ImportHex(pass("0x"+testKeyHex), pass("other")); !errors.Is(err, wallet.ErrExists) {
		t.Errorf("second ImportHex: err = %v, want ErrExists", err)
	}
	file := onlyFile(t, ks.Dir())
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.ImportV3(data, pass(testPass), pass("other")); !errors.Is(err, wallet.ErrExists) {
		t.Errorf("ImportV3 of a present key: err = %v, want ErrExists", err)
	}
	// Without its address field the duplicate is found after decryption.
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "address")
	noAddr, _ := json.Marshal(m)
	if _, err := ks.ImportV3(noAddr, pass(testPass), pass("other")); !errors.Is(err, wallet.ErrExists) {
		t.Errorf("ImportV3 without address of a present key: err = %v, want ErrExists", err)
	}
	if accs, _ := ks.Accounts(); !slices.Equal(accs, []common.Address{addr}) {
		t.Errorf("Accounts = %v, want only %v", accs, addr)
	}
}

func TestEmptyPassphraseRefused(t *testing.T) {
	ks := newKeystore(t)
	if _, err := ks.New(pass("")); !errors.Is(err, wallet.ErrEmptyPassphrase) {
		t.Errorf("New: err = %v", err)
	}
	if _, err := ks.New(nil); !errors.Is(err, wallet.ErrEmptyPassphrase) {
		t.Errorf("New(nil): err = %v", err)
	}
	if _, err := ks.ImportHex(pass(testKeyHex), pass("")); !errors.Is(err, wallet.ErrEmptyPassphrase) {
		t.Errorf("ImportHex: err = %v", err)
	}
	data := readTestdata(t, "very-light-scrypt.json")
	if _, err := ks.ImportV3(data, pass(""), pass("")); !errors.Is(err, wallet.ErrEmptyPassphrase) {
		t.Errorf("ImportV3: err = %v", err)
	}
}

func TestUnlockErrors(t *testing.T) {
	ks := newKeystore(t)
	if _, err := ks.Unlock(common.Address{1}, pass(testPass)); !errors.Is(err, wallet.ErrNoKey) {
		t.Errorf("Unlock on a missing dir: err = %v, want ErrNoKey", err)
	}
	if accs, err := ks.Accounts(); err != nil || len(accs) != 0 {
		t.Errorf("Accounts on a missing dir = %v, %v", accs, err)
	}
	addr, err := ks.ImportHex(pass(testKeyHex), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Unlock(addr, pass(testPass+"x")); !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: err = %v", err)
	}
	if _, err := ks.Unlock(common.Address{1}, pass(testPass)); !errors.Is(err, wallet.ErrNoKey) {
		t.Errorf("unknown address: err = %v", err)
	}

	// A second file for the same address makes Unlock refuse; Accounts dedups.
	file := onlyFile(t, ks.Dir())
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ks.Dir(), "copy"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Unlock(addr, pass(testPass)); !errors.Is(err, wallet.ErrAmbiguous) {
		t.Errorf("two files: err = %v, want ErrAmbiguous", err)
	}
	if accs, _ := ks.Accounts(); !slices.Equal(accs, []common.Address{addr}) {
		t.Errorf("Accounts = %v, want [%v]", accs, addr)
	}
}

// TestSwappedFile checks that a file claiming one address but holding the
// key of another is refused, by Unlock and by ImportV3.
func TestSwappedFile(t *testing.T) {
	ks := newKeystore(t)
	addr, err := ks.ImportHex(pass(testKeyHex), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	file := onlyFile(t, ks.Dir())
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	other := common.HexToAddress("0x1111111111111111111111111111111111111111")
	swapped := bytes.Replace(data, []byte(hex.EncodeToString(addr[:])), []byte(hex.EncodeToString(other[:])), 1)
	if bytes.Equal(swapped, data) {
		t.Fatal("address not found in key file")
	}
	if err := os.WriteFile(file, swapped, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Unlock(other, pass(testPass)); !errors.Is(err, wallet.ErrKeyMismatch) {
		t.Errorf("Unlock of swapped file: err = %v, want ErrKeyMismatch", err)
	}
	if _, err := newKeystore(t).ImportV3(swapped, pass(testPass), pass(testPass)); !errors.Is(err, wallet.ErrKeyMismatch) {
		t.Errorf("ImportV3 of swapped file: err = %v, want ErrKeyMismatch", err)
	}
}

// TestImportV3ReEncrypts checks that an imported file is rewritten with the
// keystore's own scrypt parameters and the new passphrase.
func TestImportV3ReEncrypts(t *testing.T) {
	src := wallet.NewKeystore(t.TempDir(), &wallet.KeystoreOptions{ScryptN: 1 << 5, ScryptP: 2})
	addr, err := src.ImportHex(pass(testKeyHex), pass("old"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(onlyFile(t, src.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	dst := newKeystore(t)
	if _, err := dst.ImportV3(data, pass("wrong"), pass(testPass)); !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Errorf("wrong file passphrase: err = %v", err)
	}
	got, err := dst.ImportV3(data, pass("old"), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if got != addr {
		t.Fatalf("ImportV3 = %v, want %v", got, addr)
	}
	out, err := os.ReadFile(onlyFile(t, dst.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		ID     string
		Crypto struct {
			KDFParams struct{ N, P int }
		}
	}
	var in struct{ ID string }
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatal(err)
	}
	if f.Crypto.KDFParams.N != cheapScryptN || f.Crypto.KDFParams.P != cheapScryptP {
		t.Errorf("re-encrypted with n=%d p=%d, want the keystore's", f.Crypto.KDFParams.N, f.Crypto.KDFParams.P)
	}
	if f.ID != in.ID {
		t.Errorf("id %q, want the original %q", f.ID, in.ID)
	}
	if _, err := dst.Unlock(addr, pass("old")); !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Errorf("old passphrase still works: %v", err)
	}
	k, err := dst.Unlock(addr, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Destroy()
	if openHex(t, k) != testKeyHex {
		t.Error("re-encrypted key differs")
	}
}

// TestKeyFileBounds checks that malformed or over-costly key files are
// refused before any KDF runs, without panicking.
func TestKeyFileBounds(t *testing.T) {
	base := readTestdata(t, "very-light-scrypt.json")
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(base, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kdf := func(m map[string]any) map[string]any {
		return m["crypto"].(map[string]any)["kdfparams"].(map[string]any)
	}
	cr := func(m map[string]any) map[string]any { return m["crypto"].(map[string]any) }
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"not json", []byte("0x" + testKeyHex)},
		{"empty", nil},
		{"huge", append(bytes.Repeat([]byte(" "), wallet.MaxKeyFileSize), base...)},
		{"version 1", edit(func(m map[string]any) { m["version"] = "1" })},
		{"version 4", edit(func(m map[string]any) { m["version"] = 4 })},
		{"no version", edit(func(m map[string]any) { delete(m, "version") })},
		{"bad address", edit(func(m map[string]any) { m["address"] = "xyz" })},
		{"scrypt n huge", edit(func(m map[string]any) { kdf(m)["n"] = 1 << 30 })},
		{"scrypt memory", edit(func(m map[string]any) { kdf(m)["n"] = 1 << 20; kdf(m)["r"] = 8 })},
		{"scrypt work", edit(func(m map[string]any) { kdf(m)["n"] = 1 << 18; kdf(m)["r"] = 8; kdf(m)["p"] = 8 })},
		{"scrypt n not pow2", edit(func(m map[string]any) { kdf(m)["n"] = 3 })},
		{"scrypt n fractional", edit(func(m map[string]any) { kdf(m)["n"] = 2.5 })},
		{"scrypt r missing", edit(func(m map[string]any) { delete(kdf(m), "r") })},
		{"scrypt p string", edit(func(m map[string]any) { kdf(m)["p"] = "1" })},
		{"dklen 16", edit(func(m map[string]any) { kdf(m)["dklen"] = 16 })},
		{"salt missing", edit(func(m map[string]any) { delete(kdf(m), "salt") })},
		{"salt number", edit(func(m map[string]any) { kdf(m)["salt"] = 7 })},
		{"salt not hex", edit(func(m map[string]any) { kdf(m)["salt"] = "zz" })},
		{"kdf unknown", edit(func(m map[string]any) { cr(m)["kdf"] = "argon2id" })},
		{"pbkdf2 no c", edit(func(m map[string]any) { cr(m)["kdf"] = "pbkdf2"; kdf(m)["prf"] = "hmac-sha256" })},
		{"pbkdf2 c huge", edit(func(m map[string]any) {
			cr(m)["kdf"] = "pbkdf2"
			kdf(m)["prf"] = "hmac-sha256"
			kdf(m)["c"] = 1 << 30
		})},
		{"pbkdf2 prf", edit(func(m map[string]any) { cr(m)["kdf"] = "pbkdf2"; kdf(m)["c"] = 2; kdf(m)["prf"] = "hmac-md5" })},
		{"cipher", edit(func(m map[string]any) { cr(m)["cipher"] = "aes-128-cbc" })},
		{"short ciphertext", edit(func(m map[string]any) { cr(m)["ciphertext"] = "00" })},
		{"short iv", edit(func(m map[string]any) { cr(m)["cipherparams"] = map[string]any{"iv": "00"} })},
		{"mac not hex", edit(func(m map[string]any) { cr(m)["mac"] = strings.Repeat("g", 64) })},
		{"crypto null", edit(func(m map[string]any) { m["crypto"] = nil })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newKeystore(t).ImportV3(tc.data, pass(""), pass(testPass))
			if !errors.Is(err, wallet.ErrInvalidKeyFile) {
				t.Errorf("err = %v, want ErrInvalidKeyFile", err)
			}
		})
	}
}

// TestAccountsSkipsNonKeys checks directory scanning against geth's own
// test keystore directory, copied into testdata (see testdata/README.md).
func TestAccountsSkipsNonKeys(t *testing.T) {
	ks := wallet.NewKeystore(filepath.Join("..", "testdata", "keystore", "geth"), nil)
	accs, err := ks.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	want := []common.Address{
		common.HexToAddress("0x289d485d9771714cce91d3393d764e1311907acc"),
		common.HexToAddress("0x7ef5a6135f1fd6a02593eedc869c6d41d934aef8"),
		common.HexToAddress("0xf466859ead1932d743d622cb74fc058882e8648a"),
	}
	if !slices.Equal(accs, want) {
		t.Errorf("Accounts = %v, want %v", accs, want)
	}
	for _, a := range want {
		k, err := ks.Unlock(a, pass("foobar"))
		if err != nil {
			t.Errorf("Unlock %v: %v", a, err)
			continue
		}
		if got := addrOfHex(t, openHex(t, k)); got != a {
			t.Errorf("key of %v belongs to %v", a, got)
		}
		k.Destroy()
	}
	if _, err := ks.Unlock(want[0], pass("foobaz")); !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
}

func onlyFile(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) != 1 {
		t.Fatalf("%d files in %s, want 1", len(files), dir)
	}
	return files[0]
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "keystore", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBrokenRandomSource checks that New gives up on a source that never
// yields a valid scalar instead of looping forever.
func TestBrokenRandomSource(t *testing.T) {
	opts := cheapOptions()
	opts.Rand = bytes.NewReader(make([]byte, 1<<12)) // zeros: never in [1, n-1]
	if _, err := wallet.NewKeystore(t.TempDir(), opts).New(pass(testPass)); err == nil {
		t.Fatal("New accepted an all-zero random source")
	}
}

// TestOverBoundsFileListedButRefused: a key file with KDF parameters beyond
// the bounds is listed (so it is not imported twice) but Unlock refuses it
// with a reason instead of running the KDF.
func TestOverBoundsFileListedButRefused(t *testing.T) {
	ks := newKeystore(t)
	addr, err := ks.ImportHex(pass(testKeyHex), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	file := onlyFile(t, ks.Dir())
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	heavy := bytes.Replace(data, []byte(`"n":16`), []byte(`"n":1073741824`), 1)
	if bytes.Equal(heavy, data) {
		t.Fatal(`"n":16 not found in key file`)
	}
	if err := os.WriteFile(file, heavy, 0o600); err != nil {
		t.Fatal(err)
	}
	if accs, _ := ks.Accounts(); !slices.Equal(accs, []common.Address{addr}) {
		t.Errorf("Accounts = %v, want [%v]", accs, addr)
	}
	if _, err := ks.Unlock(addr, pass(testPass)); !errors.Is(err, wallet.ErrInvalidKeyFile) {
		t.Errorf("Unlock: err = %v, want ErrInvalidKeyFile", err)
	}
	if _, err := ks.ImportHex(pass(testKeyHex), pass(testPass)); !errors.Is(err, wallet.ErrExists) {
		t.Errorf("ImportHex: err = %v, want ErrExists", err)
	}
}

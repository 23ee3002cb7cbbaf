package wallet_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/wallet"
)

// v3Vector is one entry of the Web3 Secret Storage test vectors
// (testdata/keystore/v3_test_vector.json, see testdata/README.md).
type v3Vector struct {
	JSON     json.RawMessage `json:"json"`
	Password string          `json:"password"`
	Priv     string          `json:"priv"`
}

func loadV3Vectors(t *testing.T) map[string]v3Vector {
	t.Helper()
	var m map[string]v3Vector
	if err := json.Unmarshal(readTestdata(t, "v3_test_vector.json"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWeb3SecretStorageVectors decrypts the scrypt and PBKDF2 test vectors of
// the Web3 Secret Storage definition, re-encrypts them, and unlocks the result.
func TestWeb3SecretStorageVectors(t *testing.T) {
	vectors := loadV3Vectors(t)
	// The address of the spec's key, as published with the vectors' key.
	specAddr := common.HexToAddress("0x008aeeda4d805471df9b2a5b0f38a0c3bcba786b")
	for _, name := range []string{"wikipage_test_vector_scrypt", "wikipage_test_vector_pbkdf2"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, ok := vectors[name]
			if !ok {
				t.Fatalf("vector %s missing", name)
			}
			if v.Password != "testpassword" || v.Priv != "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d" {
				t.Fatalf("vector %s is not the published one", name)
			}
			if got := addrOfHex(t, v.Priv); got != specAddr {
				t.Fatalf("spec key has address %v, want %v", got, specAddr)
			}
			ks := newKeystore(t)
			if name == "wikipage_test_vector_pbkdf2" { // (the scrypt vector costs seconds per try under -race)
				if _, err := ks.ImportV3(v.JSON, pass("wrong"), pass(testPass)); !errors.Is(err, wallet.ErrWrongPassphrase) {
					t.Fatalf("wrong passphrase: err = %v", err)
				}
			}
			addr, err := ks.ImportV3(v.JSON, pass(v.Password), pass(testPass))
			if err != nil {
				t.Fatal(err)
			}
			if addr != specAddr {
				t.Fatalf("ImportV3 = %v, want %v", addr, specAddr)
			}
			k, err := ks.Unlock(addr, pass(testPass))
			if err != nil {
				t.Fatal(err)
			}
			defer k.Destroy()
			if openHex(t, k) != v.Priv {
				t.Error("decrypted key is not the vector's")
			}
		})
	}
}

// TestShortKeyVectors checks that the 31- and 30-byte key vectors shipped
// beside the spec vectors are refused: a secp256k1 key in a V3 file is 32
// bytes (go-ethereum's DecryptKey refuses them too).
func TestShortKeyVectors(t *testing.T) {
	vectors := loadV3Vectors(t)
	for _, name := range []string{"31_byte_key", "30_byte_key"} {
		v := vectors[name]
		_, err := newKeystore(t).ImportV3(v.JSON, pass(v.Password), pass(testPass))
		if !errors.Is(err, wallet.ErrInvalidKeyFile) {
			t.Errorf("%s: err = %v, want ErrInvalidKeyFile", name, err)
		}
	}
}

// TestGethVeryLightScrypt imports go-ethereum's own test key file (empty
// passphrase, scrypt N=2).
func TestGethVeryLightScrypt(t *testing.T) {
	ks := newKeystore(t)
	addr, err := ks.ImportV3(readTestdata(t, "very-light-scrypt.json"), pass(""), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if want := common.HexToAddress("45dea0fb0bba44f4fcf290bba71fd57d7117cbb8"); addr != want {
		t.Errorf("ImportV3 = %v, want %v", addr, want)
	}
}

// TestTestdataChecksums pins the copied vectors to the bytes recorded in
// testdata/README.md.
func TestTestdataChecksums(t *testing.T) {
	for name, want := range map[string]string{
		"v3_test_vector.json":    "e3a43355d86d11c78f4025597b2e9012aa4fedfcfd07daeabd4b67fafbad5d7d",
		"very-light-scrypt.json": "8e8eb6d6680a263e31d32e13cdb54b467a50bcec3e1b5ec014fe602f14278538",
		"geth/aaa":               "c7adcefce8986b7a61e5f6920c229abf1df4ab43bd3df14faaa3f60410f806d1",
		"geth/zzz":               "47721ad58c0b56834fae7d6481d4c171fa69c4b2fed27df5d9961aea802e8245",
		"geth/UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8": "4527472345fb9cbbdbed83a613eb20c77d6652dc5f30e0d61573c10f0346fc1c",
	} {
		sum := sha256.Sum256(readTestdata(t, name))
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, want %s (see testdata/README.md)", name, got, want)
		}
	}
}

package wallet_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/wallet"
)

// TestNoSecretsInErrorsOrPrintouts collects the errors of every failure path
// and the printouts of every value under every common verb, and checks that
// none contains the test passphrase or private key in any encoding.
func TestNoSecretsInErrorsOrPrintouts(t *testing.T) {
	ks := newKeystore(t)
	addr, err := ks.ImportHex(pass(testKeyHex), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.Unlock(addr, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Destroy()
	keyBytes, _ := hex.DecodeString(testKeyHex)
	file := onlyFile(t, ks.Dir())
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	var errs []error
	collect := func(_ any, err error) {
		if err == nil {
			t.Errorf("expected an error")
			return
		}
		errs = append(errs, err)
	}
	collect(ks.ImportHex(pass(testKeyHex), pass(testPass)))                         // exists
	collect(ks.ImportHex(pass(testKeyHex[:60]+"zzzz"), pass(testPass)))             // not hex
	collect(ks.ImportHex(pass(testKeyHex+testKeyHex), pass(testPass)))              // too long
	collect(ks.ImportHex(pass(testPass), pass(testPass)))                           // passphrase as key
	collect(ks.ImportHex(pass(testKeyHex), pass("")))                               // empty pass
	collect(ks.Unlock(addr, pass(testKeyHex)))                                      // key as passphrase
	collect(ks.Unlock(common.Address{1}, pass(testPass)))                           // no key
	collect(ks.ImportV3([]byte(testKeyHex), pass(testPass), pass(testPass)))        // hex key as V3 file
	collect(ks.ImportV3([]byte(`{"`+testKeyHex+`":1}`), pass(testPass), pass("x"))) // junk JSON
	collect(ks.ImportV3(data, pass(testPass+"x"), pass(testPass)))                  // wrong file pass
	collect(newKeystore(t).ImportV3(bytes.Replace(data, []byte(`"version":3`), []byte(`"version":"`+testKeyHex+`"`), 1), pass(testPass), pass("x")))
	collect(wallet.SealKey(keyBytes[:31]))
	collect(nil, (*wallet.SealedKey)(nil).Open(func([]byte) error { return nil }))

	var sb strings.Builder
	for _, err := range errs {
		fmt.Fprintf(&sb, "%v\n%+v\n%#v\n%q\n", err, err, err, err)
	}
	for _, v := range []any{ks, k, *wallet.LightKeystoreOptions()} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
			fmt.Fprintf(&sb, verb+"\n", v)
		}
		j, _ := json.Marshal(v)
		sb.Write(j)
	}
	logger := slog.New(slog.NewJSONHandler(&sb, nil))
	logger.Info("unlocked", "key", k, "keystore", ks)
	logger.Info("unlocked", slog.Any("key", k))

	out := sb.String()
	for _, s := range []string{
		testPass, testKeyHex, strings.ToUpper(testKeyHex),
		hex.EncodeToString([]byte(testPass)), string(keyBytes),
		testKeyHex[:16], // any long fragment of the key
	} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
			t.Errorf("output contains a secret (%d bytes):\n%s", len(s), out)
		}
	}
	if !strings.Contains(out, addr.Hex()) {
		t.Error("printouts should name the address") // the check above must see real output
	}
}

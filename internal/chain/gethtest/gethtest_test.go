package gethtest

import (
	"context"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

func TestStartFundStop(t *testing.T) {
	var url string
	t.Run("node", func(t *testing.T) {
		n := Start(t)
		url = n.URL
		if !strings.HasPrefix(n.URL, "http://127.0.0.1:") {
			t.Errorf("URL = %q, want a loopback http URL", n.URL)
		}
		addr := common.HexToAddress("0x00000000000000000000000000000000000f00d5")
		want := big.NewInt(12345)
		if err := n.Fund(context.Background(), addr, want); err != nil {
			t.Fatal(err)
		}
		c, err := rpc.DialHTTP(n.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var got hexutil.Big
		if err := c.CallContext(context.Background(), &got, "eth_getBalance", addr, "latest"); err != nil {
			t.Fatal(err)
		}
		if got.ToInt().Cmp(want) != 0 {
			t.Errorf("balance after Fund = %s, want %s", got.ToInt(), want)
		}
		// The same node over its websocket endpoint.
		if !strings.HasPrefix(n.WSURL, "ws://127.0.0.1:") {
			t.Errorf("WSURL = %q, want a loopback ws URL", n.WSURL)
		}
		ws, err := rpc.DialContext(context.Background(), n.WSURL)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		var wsGot hexutil.Big
		if err := ws.CallContext(context.Background(), &wsGot, "eth_getBalance", addr, "latest"); err != nil {
			t.Fatalf("eth_getBalance over %s: %v", n.WSURL, err)
		}
		if wsGot.ToInt().Cmp(want) != 0 {
			t.Errorf("balance over ws = %s, want %s", wsGot.ToInt(), want)
		}
	})
	// The subtest's cleanup has stopped geth: its port no longer answers.
	if url == "" {
		t.Fatal("no node started")
	}
	if _, err := http.Post(url, "application/json", strings.NewReader(`{}`)); err == nil {
		t.Errorf("geth still answers at %s after cleanup", url)
	}
}

func TestFindGeth(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "geth")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		want    string
		wantErr bool
	}{
		{"env points at an executable", exe, exe, false},
		{"env points at a non-executable", plain, "", true},
		{"env points nowhere", filepath.Join(dir, "missing"), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvGeth, tc.env)
			got, err := findGeth()
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("findGeth = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	t.Run("nothing anywhere", func(t *testing.T) {
		t.Setenv(EnvGeth, "")
		t.Setenv("PATH", dir+"-nonexistent")
		t.Chdir(t.TempDir()) // no go.mod above a temp dir
		_, err := findGeth()
		if err == nil || !strings.Contains(err.Error(), "make geth") {
			t.Errorf("findGeth = %v, want the `make geth` hint", err)
		}
	})
}

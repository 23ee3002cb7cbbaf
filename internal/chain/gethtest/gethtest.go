// Package gethtest starts a real geth dev node for tests.
//
// The geth binary is taken from $WALLETMCP_GETH, else <repo root>/bin/geth
// (the repository root is the nearest directory above the working directory
// holding go.mod; `make geth` installs it there), else $PATH. A test that
// needs geth fails, rather than skips, when none is found.
package gethtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// EnvGeth names the environment variable that can point at a geth binary.
const EnvGeth = "WALLETMCP_GETH"

const (
	startAttempts = 3                     // fresh ports tried when geth dies at start-up
	readyTimeout  = 60 * time.Second      // how long geth may take to answer eth_chainId
	pollInterval  = 50 * time.Millisecond // between readiness and receipt polls
	stopTimeout   = 30 * time.Second      // how long geth may take to exit after SIGTERM
	fundTimeout   = 30 * time.Second      // how long Fund waits for its receipt
	callTimeout   = 2 * time.Second       // per readiness probe
	logTail       = 4096                  // bytes of geth's log quoted on failure
	devChainID    = 1337                  // chain id of geth --dev
	loopback      = "127.0.0.1"           // geth listens here only
)

// Node is a running geth --dev node, stopped when the test ends.
type Node struct {
	// URL is the node's HTTP JSON-RPC endpoint, http://127.0.0.1:PORT.
	URL string
	// WSURL is the node's websocket JSON-RPC endpoint, ws://127.0.0.1:PORT
	// (the same port: geth serves both on one listener).
	WSURL string
	// Faucet is the node's funded, unlocked dev account (eth_accounts[0]).
	Faucet common.Address

	rpc *rpc.Client
}

// Start starts geth --dev on a free loopback port (HTTP and websocket
// JSON-RPC on that one port) with a fresh data directory, waits until it answers eth_chainId with 1337, and registers a
// cleanup that stops it with SIGTERM and waits for it to exit.
func Start(t testing.TB) *Node {
	t.Helper()
	bin, err := findGeth()
	if err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range startAttempts {
		n, retry, err := start(t, bin)
		if err == nil {
			return n
		}
		lastErr = err
		if !retry {
			break
		}
	}
	t.Fatalf("gethtest: starting geth: %v", lastErr)
	return nil
}

// findGeth locates the geth binary.
func findGeth() (string, error) {
	if p := os.Getenv(EnvGeth); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("geth not found: $%s=%q is not an executable file", EnvGeth, p)
	}
	if root, ok := repoRoot(); ok {
		if p := filepath.Join(root, "bin", "geth"); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("geth"); err == nil {
		return p, nil
	}
	return "", errors.New("geth not found: run `make geth`")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// repoRoot walks up from the working directory to the nearest go.mod.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// freePort asks the kernel for a free loopback port. Another process may take
// it before geth binds it; Start then retries with another.
func freePort() (int, error) {
	l, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start makes one attempt. retry reports whether geth died early (e.g. because
// its port was taken), so that another attempt may succeed.
func start(t testing.TB, bin string) (n *Node, retry bool, err error) {
	port, err := freePort()
	if err != nil {
		return nil, false, err
	}
	datadir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "geth.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, false, err
	}
	cmd := exec.Command(bin,
		"--dev",
		"--http", "--http.addr", loopback, "--http.port", strconv.Itoa(port),
		"--http.api", "eth,net,web3",
		"--ws", "--ws.addr", loopback, "--ws.port", strconv.Itoa(port),
		"--ws.api", "eth,net,web3",
		"--datadir", datadir,
		"--ipcdisable", "--nodiscover", "--maxpeers", "0", "--port", "0",
		// geth shuts itself down when its datadir's disk has less free
		// than twice its dirty-trie cache: 2 GiB in v1.17.8. A dev chain
		// of a few blocks needs a few MB, and a CI run died here with
		// 1.98 GiB free in /tmp. 0 turns the monitor off.
		"--datadir.minfreedisk", "0",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, false, err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			_ = cmd.Process.Kill()
		}
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			t.Errorf("gethtest: geth did not exit %v after SIGTERM; killing it", stopTimeout)
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	hostPort := net.JoinHostPort(loopback, strconv.Itoa(port))
	url := "http://" + hostPort
	client, err := rpc.DialHTTP(url)
	if err != nil {
		stop()
		return nil, false, err
	}
	n = &Node{URL: url, WSURL: "ws://" + hostPort, rpc: client}
	if err := n.waitReady(exited); err != nil {
		client.Close()
		stop()
		select {
		case <-exited:
			return nil, true, fmt.Errorf("%w (exit: %v)\n%s", err, waitErr, tail(logPath))
		default:
			return nil, false, fmt.Errorf("%w\n%s", err, tail(logPath))
		}
	}
	t.Cleanup(func() {
		client.Close()
		stop()
	})
	var accounts []common.Address
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := client.CallContext(ctx, &accounts, "eth_accounts"); err != nil {
		return nil, false, fmt.Errorf("eth_accounts: %w", err)
	}
	if len(accounts) == 0 {
		return nil, false, errors.New("geth --dev reports no dev account")
	}
	n.Faucet = accounts[0]
	return n, false, nil
}

// waitReady polls eth_chainId until the node answers 1337, the process exits
// or readyTimeout passes.
func (n *Node) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		var id hexutil.Big
		err := n.rpc.CallContext(ctx, &id, "eth_chainId")
		cancel()
		if err == nil {
			if id.ToInt().Cmp(big.NewInt(devChainID)) != 0 {
				return fmt.Errorf("geth --dev reports chain id %s, want %d", id.ToInt(), devChainID)
			}
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			return errors.New("geth exited during start-up")
		case <-tick.C:
		}
	}
	return fmt.Errorf("geth not ready after %v: %v", readyTimeout, lastErr)
}

// Fund sends wei from the dev account to addr with eth_sendTransaction and
// waits until the transfer is mined successfully.
func (n *Node) Fund(ctx context.Context, addr common.Address, wei *big.Int) error {
	var hash common.Hash
	tx := map[string]any{"from": n.Faucet, "to": addr, "value": (*hexutil.Big)(wei)}
	if err := n.rpc.CallContext(ctx, &hash, "eth_sendTransaction", tx); err != nil {
		return fmt.Errorf("gethtest: fund %s: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, fundTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var r *types.Receipt
		err := n.rpc.CallContext(ctx, &r, "eth_getTransactionReceipt", hash)
		if err != nil && err.Error() != "transaction indexing is in progress" {
			return fmt.Errorf("gethtest: fund %s: receipt of %s: %w", addr, hash, err)
		}
		if r != nil {
			if r.Status != types.ReceiptStatusSuccessful {
				return fmt.Errorf("gethtest: fund %s: transaction %s reverted", addr, hash)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gethtest: fund %s: waiting for %s: %w", addr, hash, ctx.Err())
		case <-tick.C:
		}
	}
}

// tail returns the last logTail bytes of the file at path.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > logTail {
		b = b[len(b)-logTail:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return "geth log (tail):\n" + string(b)
}

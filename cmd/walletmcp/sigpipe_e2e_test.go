//go:build linux

package main_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeSurvivesAClosedStdout: a client that closes its end of serve's
// stdout and then sends a call made the answer's write raise SIGPIPE, which
// killed serve: the records of calls it had answered and its stop record
// were lost. serve now ignores SIGPIPE: the write fails, the session ends
// (without waiting the drain's minute for answers it can no longer give)
// and serve stops cleanly.
func TestServeSurvivesAClosedStdout(t *testing.T) {
	home, _ := newHome(t, 1337)
	cmd := exec.Command(binPath, "serve", "--home", home, "--password-file", passFile(t, home), "--dev")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = outW
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	send := func(s string) {
		if _, err := io.WriteString(stdin, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	lines := bufio.NewScanner(outR)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if !lines.Scan() {
		t.Fatalf("no answer to initialize\n%s", stderr)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_accounts","arguments":{}}}`)
	if !lines.Scan() {
		t.Fatalf("no answer to list_accounts\n%s", stderr)
	}
	// The client goes away: its end of stdout first, then a call, then
	// its end of stdin.
	outR.Close()
	send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_policy","arguments":{}}}`)
	stdin.Close()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() || err != nil {
			t.Fatalf("serve ended with %v (signal %v)\n%s", err, ws.Signal(), stderr)
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("serve still running 45 s after its client left\n%s", stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("serve took %v to stop", d)
	}
	log, err := os.ReadFile(filepath.Join(home, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	var last struct {
		Data map[string]any `json:"data"`
	}
	recs := strings.Split(strings.TrimSpace(string(log)), "\n")
	if err := json.Unmarshal([]byte(recs[len(recs)-1]), &last); err != nil || last.Data["event"] != "serve_stopped" {
		t.Fatalf("the log's last record: %s", recs[len(recs)-1])
	}
	found := false
	for _, r := range recs {
		found = found || strings.Contains(r, `"tool":"list_accounts"`)
	}
	if !found {
		t.Fatal("the answered list_accounts call is not in the audit log")
	}
}

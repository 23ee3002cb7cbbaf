//go:build unix

package main_test

// End-to-end tests of the audit log's keyed head: records cut from the end,
// with the head file rewritten to match by someone without the home
// passphrase, are found by `audit verify` and refused by every writer.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/walletmcp/walletmcp/internal/audit"
)

// walletmcpNoTTY runs the binary with no passphrase source at all: no
// --password-file, no WALLETMCP_PASSWORD_FILE, no controlling terminal.
func walletmcpNoTTY(t *testing.T, home string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"--home", home}, args...)...)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no /dev/tty
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := cliResult{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// logLines returns the lines of the audit log, each with its newline.
func logLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	return lines[:len(lines)-1]
}

// cutLog keeps the first n records of the audit log at path and returns the
// hash of the last one kept.
func cutLog(t *testing.T, path string, n int) string {
	t.Helper()
	lines := logLines(t, path)[:n]
	last := strings.TrimSuffix(lines[n-1], "\n")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	var r struct{ Hash string }
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		t.Fatal(err)
	}
	return r.Hash
}

// writeHead writes a head file padded as an earlier walletmcp did, to 128
// bytes if it fits.
func writeHead(t *testing.T, path, content string) {
	t.Helper()
	content += strings.Repeat(" ", max(0, 127-len(content))) + "\n"
	if err := os.WriteFile(path+".head", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const (
	verifiedLine  = "checked with the home passphrase: no records cut from the end"
	needsPassLine = "not checked: records cut from the end (needs the home passphrase"
	noMACLine     = "not checked: records cut from the end (the head file has no MAC yet"
)

func TestAuditVerifyCutTail(t *testing.T) {
	home, _ := newHome(t, 1337)
	mustCLI(t, home, "account", "new", "--label", "second")
	logPath := filepath.Join(home, "audit.log")
	keep := len(logLines(t, logPath)) - 2 // the last two records go
	if r := walletmcp(t, home, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "intact") || !strings.Contains(r.stdout, verifiedLine) {
		t.Fatalf("intact log, with the passphrase: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := walletmcpNoTTY(t, home, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "intact") || !strings.Contains(r.stdout, needsPassLine) {
		t.Fatalf("intact log, without the passphrase: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	origLog, _ := os.ReadFile(logPath)
	origHead, _ := os.ReadFile(logPath + ".head")

	tests := []struct {
		name string
		// head is the head file the attacker writes for records 1 to keep.
		head   func(hash string) string
		detail string
		// seenWithoutKey: the rewrite shows without the passphrase too.
		seenWithoutKey bool
	}{
		{
			name:           "head without a MAC",
			head:           func(hash string) string { return fmt.Sprintf(`{"seq":%d,"hash":"%s"}`, keep, hash) },
			detail:         "the head file has no MAC, but record 1 keyed it",
			seenWithoutKey: true,
		},
		{
			name: "head with a made-up MAC",
			head: func(hash string) string {
				return fmt.Sprintf(`{"seq":%d,"hash":"%s","mac":"%s"}`, keep, hash, strings.Repeat("5a", 32))
			},
			detail: "the head file's MAC does not verify",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(logPath, origLog, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(logPath+".head", origHead, 0o600); err != nil {
				t.Fatal(err)
			}
			// The last two records go, and the head is rewritten to match.
			writeHead(t, logPath, tt.head(cutLog(t, logPath, keep)))

			r := walletmcp(t, home, "audit", "verify")
			if r.code != 1 || !strings.Contains(r.stderr, "truncated") || !strings.Contains(r.stderr, tt.detail) ||
				!strings.Contains(r.stderr, "records cut from the end") {
				t.Fatalf("verify with the passphrase: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			r = walletmcpNoTTY(t, home, "audit", "verify")
			switch {
			case tt.seenWithoutKey && (r.code != 1 || !strings.Contains(r.stderr, tt.detail)):
				t.Fatalf("verify without the passphrase: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			case !tt.seenWithoutKey && (r.code != 0 || !strings.Contains(r.stdout, needsPassLine)):
				t.Fatalf("verify without the passphrase must say what it could not check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			// No writer starts on it.
			r = walletmcp(t, home, "serve", "--dev")
			if r.code == 0 || !strings.Contains(r.stderr, "refusing to start") || !strings.Contains(r.stderr, tt.detail) {
				t.Fatalf("serve on a cut log: exit %d\n%s", r.code, r.stderr)
			}
			if r = walletmcp(t, home, "account", "new"); r.code == 0 {
				t.Fatal("account new wrote to a cut log")
			}
			if n := len(logLines(t, logPath)); n != keep {
				t.Fatalf("a writer appended to a cut log: %d records", n)
			}
		})
	}
}

// TestAuditHeadUpgrade: a home whose audit log an earlier walletmcp wrote (a
// head file without a MAC) verifies, saying what it could not check; the next
// command that writes the log adds the MAC, after which a cut is found.
func TestAuditHeadUpgrade(t *testing.T) {
	home, _ := newHome(t, 1337)
	logPath := filepath.Join(home, "audit.log")
	// The log as the previous version left it: the same records, no MAC.
	os.Remove(logPath)
	os.Remove(logPath + ".head")
	lg, err := audit.Open(logPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"home_initialised", "account_created"} {
		if err := lg.Append(context.Background(), audit.TypeSecurity, map[string]any{"event": ev}); err != nil {
			t.Fatal(err)
		}
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	head, err := os.ReadFile(logPath + ".head")
	if err != nil {
		t.Fatal(err)
	}
	writeHead(t, logPath, strings.TrimSpace(string(head)))

	r := walletmcp(t, home, "audit", "verify")
	if r.code != 0 || !strings.Contains(r.stdout, noMACLine) {
		t.Fatalf("verify of an unkeyed log: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustCLI(t, home, "account", "new")
	if !strings.Contains(logLines(t, logPath)[2], `"event":"audit_head_keyed"`) {
		t.Fatalf("record 3 is not the upgrade: %s", logLines(t, logPath)[2])
	}
	if r := walletmcp(t, home, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, verifiedLine) {
		t.Fatalf("verify after the upgrade: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	writeHead(t, logPath, fmt.Sprintf(`{"seq":3,"hash":"%s"}`, cutLog(t, logPath, 3)))
	if r := walletmcp(t, home, "audit", "verify"); r.code != 1 || !strings.Contains(r.stderr, "has no MAC, but record 3 keyed it") {
		t.Fatalf("verify of a cut upgraded log: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

//go:build unix

package main_test

// End-to-end tests of TOTP enrolment and of the approval commands through the
// binary. Codes are computed here from the otpauth:// URI the binary prints.
//
// The binary reads the real clock, and a TOTP time step is accepted once:
// each accepted code needs a step later than the last one, within one step of
// the binary's current step. nextStep picks such a step and, when the window
// is used up, waits for the next 30-second step to begin (the one wait here is
// for the wall clock, not for another goroutine or process).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/pquerna/otp/hotp"

	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// runCLI runs the binary like walletmcp() does, with stdin fed from in (nil:
// empty) and without a controlling terminal, so that prompts read stdin.
// If onLine is set it sees every stdout line as it comes and may answer on
// stdin; stdin is closed when the process ends or onLine returns true.
func runCLI(t testing.TB, home string, in *string, onLine func(line string, stdin *os.File) bool, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"--home", home, "--password-file", passFile(t, home)}, args...)
	cmd := exec.CommandContext(ctx, binPath, full...)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no /dev/tty
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = stdinR
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	var closeOnce sync.Once
	closeIn := func() { closeOnce.Do(func() { stdinW.Close() }) }
	if in != nil {
		if _, err := stdinW.WriteString(*in); err != nil {
			t.Fatal(err)
		}
	}
	if onLine == nil {
		closeIn()
	}
	var so strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		so.WriteString(line + "\n")
		if onLine != nil && onLine(line, stdinW) {
			closeIn()
		}
	}
	closeIn()
	err = cmd.Wait()
	r := cliResult{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("walletmcp %v: %v", args, err)
	}
	if strings.Contains(r.stdout+r.stderr, testPassphrase) {
		t.Fatalf("walletmcp %v printed the passphrase", args)
	}
	return r
}

func input(s string) *string { return &s }

// stepClock hands out TOTP steps that the binary accepts, each later than
// the last.
type stepClock struct {
	t    testing.TB
	last int64
}

// nextStep returns the smallest step after the last one that the binary
// will accept for a while: within one step of now, avoiding the previous
// step in the last 10 s of the current one.
func (c *stepClock) nextStep() int64 {
	for {
		now := time.Now().Unix()
		cur, into := now/30, now%30
		lo := cur - 1
		if into >= 20 {
			lo = cur
		}
		s := max(c.last+1, lo)
		if s <= cur+1 {
			c.last = s
			return s
		}
		time.Sleep(time.Until(time.Unix((cur+1)*30, 0)))
	}
}

// usableStep is the last step if the binary still accepts it, else a newer one.
func (c *stepClock) usableStep() int64 {
	now := time.Now().Unix()
	if c.last >= now/30-1 && now%30 < 20 || c.last >= now/30 {
		return c.last
	}
	return c.nextStep()
}

func totpCode(t testing.TB, secret string, step int64) string {
	t.Helper()
	c, err := hotp.GenerateCode(secret, uint64(step))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enroll runs `totp enroll` and answers the code prompt with code(secret) for
// the secret of the URI it prints. It returns the run and the secret.
func enroll(t *testing.T, home string, code func(secret string) string, args ...string) (cliResult, string) {
	t.Helper()
	var secret string
	r := runCLI(t, home, nil, func(line string, stdin *os.File) bool {
		if !strings.HasPrefix(line, "otpauth://") {
			return false
		}
		u, err := url.Parse(line)
		if err != nil {
			t.Errorf("printed URI: %v", err)
			return true
		}
		secret = u.Query().Get("secret")
		fmt.Fprintln(stdin, code(secret))
		return true
	}, append([]string{"totp", "enroll"}, args...)...)
	return r, secret
}

// openState opens the home's state with its state key, derived from the
// test passphrase as the CLI does.
func openState(t *testing.T, home string) *store.Store {
	t.Helper()
	h, err := config.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := h.Unlock(secret.NewBytes([]byte(testPassphrase)))
	if err != nil {
		t.Fatal(err)
	}
	defer mk.Wipe()
	key, err := mk.Derive(config.StateKeyPurpose)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Wipe()
	st, err := store.Open(context.Background(), filepath.Join(home, "state.db"), &store.Options{Key: key.Reveal()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// parkApproval creates a pending approval in the home's state database, as
// the server does.
func parkApproval(t *testing.T, st *store.Store, from common.Address, wei int64) *store.Approval {
	t.Helper()
	in := &policy.Intent{
		ChainID: 1337, From: from, To: common.HexToAddress(recipient), Asset: policy.NativeSymbol,
		Amount: big.NewInt(wei), Decimals: policy.NativeDecimals, Symbol: policy.NativeSymbol,
	}
	sum := policy.NewSummary(in, big.NewInt(21000*2e9))
	js, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	d := in.Digest()
	link := sha256.Sum256([]byte(fmt.Sprintf("link-%d", wei)))
	a, created, err := st.CreateApproval(context.Background(), &store.Approval{
		LinkTokenHash: link[:], Digest: d[:], ChainID: in.ChainID, From: in.From, To: in.To,
		Asset: store.AssetETH, Amount: in.Amount, Summary: js, ExpiresAt: time.Now().Add(10 * time.Minute),
	}, 0)
	if err != nil || !created {
		t.Fatalf("CreateApproval: %v %v", created, err)
	}
	return a
}

func approvalStatus(t *testing.T, st *store.Store, id string) approvalstate.Status {
	t.Helper()
	a, err := st.Approval(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status
}

func TestTOTPEnrolAndApprovalsCLI(t *testing.T) {
	ctx := context.Background()
	home, addr := newHome(t, 1337)
	st := openState(t, home)
	clk := &stepClock{t: t}
	var outputs []string // every output except the enrolments' stdout, which shows the secret
	keep := func(r cliResult, withStdout bool) cliResult {
		outputs = append(outputs, r.stderr)
		if withStdout {
			outputs = append(outputs, r.stdout)
		}
		return r
	}
	mustFail := func(r cliResult, what, want string) {
		t.Helper()
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("%s: exit %d, want an error with %q\nstdout:\n%s\nstderr:\n%s", what, r.code, want, r.stdout, r.stderr)
		}
	}

	// Enrolment with a wrong code saves nothing.
	r, _ := enroll(t, home, func(string) string { return "12345" })
	keep(r, false)
	mustFail(r, "enrol with a malformed code", "6 digits")
	if _, err := st.TOTP(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a failed enrolment: %v, want not enrolled", err)
	}
	// --code is for re-enrolling only.
	mustFail(keep(runCLI(t, home, nil, nil, "totp", "enroll", "--code", "123456"), true), "--code without enrolment", "not enrolled yet")

	// Enrolment with the right code.
	var s1 int64
	r, secret1 := enroll(t, home, func(sec string) string { s1 = clk.nextStep(); return totpCode(t, sec, s1) })
	keep(r, false)
	if r.code != 0 || secret1 == "" || !strings.Contains(r.stdout, "otpauth://totp/walletmcp:") || !strings.Contains(r.stdout, "█") {
		t.Fatalf("enrol: exit %d, secret %v\n%s\n%s", r.code, secret1 != "", r.stdout, r.stderr)
	}
	state1, err := st.TOTP(ctx)
	if err != nil || state1.LastStep != s1 {
		t.Fatalf("after enrolment: %+v %v, want last step %d (the confirmation code is spent)", state1, err, s1)
	}
	if bytes.Contains(state1.Sealed, []byte(secret1)) {
		t.Fatal("the secret is stored in the clear")
	}

	// Re-enrolment needs a current code of the enrolled secret.
	r = keep(runCLI(t, home, nil, nil, "totp", "enroll"), true)
	mustFail(r, "re-enrol without a code", "re-enrolling needs a current code")
	if strings.Contains(r.stdout, "otpauth://") {
		t.Fatal("a refused re-enrolment printed a new secret")
	}
	r = keep(runCLI(t, home, nil, nil, "totp", "enroll", "--code", totpCode(t, secret1, s1)), true)
	mustFail(r, "re-enrol with a spent code", "already used")
	if st2, _ := st.TOTP(ctx); !bytes.Equal(st2.Sealed, state1.Sealed) {
		t.Fatal("a refused re-enrolment changed the secret")
	}

	// --png is refused, before any code is asked for (and spent): a file
	// holding the secret is readable by anything running as the user.
	png := filepath.Join(t.TempDir(), "totp.png")
	mustFail(keep(runCLI(t, home, input(""), nil, "totp", "enroll", "--png", png), true), "--png", "--png is refused")
	if _, err := os.Stat(png); err == nil {
		t.Fatal("--png wrote a file")
	}
	// Re-enrolment with a current code of the old secret.
	s2 := clk.nextStep()
	r, secret2 := enroll(t, home, func(sec string) string { return totpCode(t, sec, clk.usableStep()) },
		"--code", totpCode(t, secret1, s2))
	keep(r, false)
	if r.code != 0 || secret2 == "" || secret2 == secret1 {
		t.Fatalf("re-enrol: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Two pending approvals, made as the server makes them.
	a := parkApproval(t, st, addr, 2e17)
	b := parkApproval(t, st, addr, 3e17)
	to := common.HexToAddress(recipient).Hex()
	out := keep(runCLI(t, home, nil, nil, "approvals"), true).stdout
	for _, want := range []string{a.ID, b.ID, to[:len(to)-6] + "[" + to[len(to)-6:] + "]", "0.2 ETH", "0.3 ETH", "max fee", addr.Hex(), "chain     1337"} {
		if !strings.Contains(out, want) {
			t.Fatalf("approvals lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("ANSI escapes written to a pipe")
	}

	// A wrong code (here: the old secret's) changes nothing. Given on the
	// command line, it is warned about (other processes of the user can
	// read it there); --code - reads it from standard input, unwarned.
	r = keep(runCLI(t, home, nil, nil, "approve", a.ID, "--code", totpCode(t, secret1, clk.usableStep()+1)), true)
	mustFail(r, "approve with a wrong code", "Wrong code")
	if !strings.Contains(r.stderr, "warning: --code put the code on the command line") {
		t.Fatalf("no warning for a code on the command line:\n%s", r.stderr)
	}
	r = keep(runCLI(t, home, input(totpCode(t, secret1, clk.usableStep()+1)+"\n"), nil, "approve", a.ID, "--code", "-"), true)
	mustFail(r, "approve with a wrong code on standard input", "Wrong code")
	if strings.Contains(r.stderr, "warning") {
		t.Fatalf("--code - warned:\n%s", r.stderr)
	}
	mustFail(keep(runCLI(t, home, input(""), nil, "approve", a.ID, "--code", "-"), true), "approve with --code - and no input", "no code on standard input")
	if got := approvalStatus(t, st, a.ID); got != approvalstate.Pending {
		t.Fatalf("after a wrong code: %s", got)
	}
	// Unknown and malformed IDs, before any code is asked for.
	mustFail(keep(runCLI(t, home, nil, nil, "approve", strings.Repeat("0", 32), "--code", "123456"), true), "unknown id", "no such approval")
	mustFail(keep(runCLI(t, home, nil, nil, "approve", "123456"), true), "code as id", "32 hex digits")
	if r := keep(runCLI(t, home, nil, nil, "approve", "123456"), true); strings.Contains(r.stderr, "123456") {
		t.Fatal("a stray argument was echoed")
	}

	// The right code, typed at the prompt after a mistyped one: the
	// terminal asks again.
	s3 := clk.nextStep()
	code3 := totpCode(t, secret2, s3)
	r = keep(runCLI(t, home, input("12345\n"+code3+"\n"), nil, "approve", a.ID), true)
	if r.code != 0 || !strings.Contains(r.stdout, "approved "+a.ID) || !strings.Contains(r.stdout, "["+to[len(to)-6:]+"]") {
		t.Fatalf("approve: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "6 digits") || !strings.Contains(r.stderr, "2 more tries") {
		t.Fatalf("approve after a mistyped code: stderr\n%s", r.stderr)
	}
	if got := approvalStatus(t, st, a.ID); got != approvalstate.Approved {
		t.Fatalf("after approve: %s", got)
	}
	// The same code for another approval: refused.
	mustFail(keep(runCLI(t, home, nil, nil, "approve", "--code", code3, b.ID), true), "the same code again", "already used")
	if got := approvalStatus(t, st, b.ID); got != approvalstate.Pending {
		t.Fatalf("after a replayed code: %s", got)
	}
	// A decided approval cannot be approved again or rejected.
	mustFail(keep(runCLI(t, home, nil, nil, "reject", a.ID), true), "reject an approved one", "already approved")

	// Reject needs no code.
	r = keep(runCLI(t, home, nil, nil, "reject", b.ID), true)
	if r.code != 0 || !strings.Contains(r.stdout, "rejected "+b.ID) {
		t.Fatalf("reject: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := approvalStatus(t, st, b.ID); got != approvalstate.Rejected {
		t.Fatalf("after reject: %s", got)
	}
	if out := keep(runCLI(t, home, nil, nil, "approvals"), true).stdout; !strings.Contains(out, "no pending approvals") {
		t.Fatalf("approvals after deciding both:\n%s", out)
	}

	// Once enrolled, attesting the policy takes a code.
	att := filepath.Join(home, "policy.attest.json")
	before, _ := os.ReadFile(att)
	mustFail(keep(runCLI(t, home, nil, nil, "policy", "attest"), true), "attest without a code", "no code given")
	mustFail(keep(runCLI(t, home, nil, nil, "policy", "attest", "--code", code3), true), "attest with a spent code", "already used")
	if after, _ := os.ReadFile(att); !bytes.Equal(before, after) {
		t.Fatal("a refused attestation rewrote the attestation")
	}
	r = keep(runCLI(t, home, nil, nil, "policy", "attest", "--code", totpCode(t, secret2, clk.nextStep())), true)
	if r.code != 0 || !strings.Contains(r.stdout, "attested sha256") {
		t.Fatalf("attest with a code: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// The audit log is intact and records the decisions, and nothing printed
	// (but the enrolments) nor audited holds a secret or a code.
	if r := keep(walletmcp(t, home, "audit", "verify"), true); r.code != 0 {
		t.Fatalf("audit verify: %s", r.stderr)
	}
	logb, err := os.ReadFile(filepath.Join(home, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"totp_enrolled", "totp_accepted", "totp_failed", "approval_approved", "approval_rejected", "policy_attested"} {
		if !bytes.Contains(logb, []byte(`"event":"`+ev+`"`)) {
			t.Errorf("audit log has no %s event", ev)
		}
	}
	all := strings.Join(outputs, "\n") + string(logb)
	for _, s := range []string{secret1, secret2, strings.ToLower(secret1), strings.ToLower(secret2), testPassphrase} {
		if strings.Contains(all, s) {
			t.Fatalf("a secret appears in the output or the audit log")
		}
	}
	if bytes.Contains(logb, []byte(`"`+code3+`"`)) {
		t.Fatal("a code appears in the audit log")
	}
}

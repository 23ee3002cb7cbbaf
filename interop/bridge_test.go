package interop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// osUser is a throwaway OS user the test created.
type osUser struct {
	name     string
	uid, gid uint32
}

// newUser creates a system user (and its group) for the test and removes it
// at the end.
func newUser(t *testing.T, prefix string, extraGroups ...string) *osUser {
	t.Helper()
	var r [3]byte
	rand.Read(r[:])
	name := prefix + hex.EncodeToString(r[:])
	args := []string{"--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin"}
	if len(extraGroups) > 0 {
		args = append(args, "--groups", strings.Join(extraGroups, ","))
	}
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &osUser{name: name, uid: uint32(uid), gid: uint32(gid)}
}

// as makes cmd run as u (with u's supplementary groups).
func (u *osUser) as(cmd *exec.Cmd, gid uint32) *exec.Cmd {
	usr, _ := user.Lookup(u.name)
	ids, _ := usr.GroupIds()
	var groups []uint32
	for _, g := range ids {
		n, _ := strconv.Atoi(g)
		groups = append(groups, uint32(n))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: gid, Groups: groups}}
	return cmd
}

// TestTypeScriptSDKClientThroughBridge: the privilege-separated deployment
// of the README. A daemon (`serve --dev --http unix:PATH`) runs as one OS
// user with its home private to it; the TypeScript SDK client, as another
// user in the socket's group, launches `walletmcp connect` and runs the
// whole SDK test file through it, a transfer included. That user cannot read
// the daemon's home.
func TestTypeScriptSDKClientThroughBridge(t *testing.T) {
	node := nodeJS(t)
	if os.Geteuid() != 0 {
		t.Skip("bridge: needs root to create the daemon's and the agent's OS users (useradd); run make test as root")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("bridge: useradd is not installed")
	}
	clients := newUser(t, "wmcpc") // its group is the socket's group
	daemon := newUser(t, "wmcpd")
	agent := newUser(t, "wmcpa", clients.name)

	base, err := os.MkdirTemp("", "wmcp-xu-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// The binary where both users can run it.
	bin := filepath.Join(base, "walletmcp")
	src, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(base, "wallet")
	sockDir := filepath.Join(base, "run")
	agentHome := filepath.Join(base, "agent")
	for _, d := range []struct {
		path     string
		uid, gid uint32
		mode     os.FileMode
	}{{home, daemon.uid, daemon.gid, 0o700}, {sockDir, daemon.uid, clients.gid, 0o750}, {agentHome, agent.uid, agent.gid, 0o700}} {
		if err := os.Mkdir(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d.path, int(d.uid), int(d.gid)); err != nil {
			t.Fatal(err)
		}
	}
	asDaemon := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := daemon.as(exec.CommandContext(ctx, bin, append([]string{"--home", home}, args...)...), clients.gid)
		cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=", "HOME="+home)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Run(); err != nil {
			t.Fatalf("walletmcp %v as %s: %v\n%s", args, daemon.name, err, &se)
		}
		return so.String()
	}
	// A dev home, made by the daemon's user; the SDK test file's policy (no
	// new-recipient approval) attested with a TOTP code.
	initOut := &bytes.Buffer{}
	{
		cmd := daemon.as(exec.Command(bin, "serve", "--dev", "--home", home), clients.gid)
		cmd.Stderr = initOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("serve --dev (init) as %s: %v\n%s", daemon.name, err, initOut)
		}
	}
	secret := regexp.MustCompile(`secret=([A-Z2-7]+)`).FindStringSubmatch(initOut.String())
	if secret == nil {
		t.Fatalf("no TOTP secret printed:\n%s", initOut)
	}
	pol := filepath.Join(home, "policy.toml")
	b, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pol, bytes.Replace(b, []byte("new_recipient_approval = true"), []byte("new_recipient_approval = false"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	code := totpCode(t, secret[1])
	asDaemon("policy", "attest", "--code", code)

	sock := filepath.Join(sockDir, "mcp.sock")
	serveErr := &syncBuf{}
	serve := daemon.as(exec.Command(bin, "--home", home, "serve", "--dev", "--http", "unix:"+sock), clients.gid)
	serve.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=", "HOME="+home)
	serve.Stderr = serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = serve.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(serveErr.String(), "serving MCP over HTTP"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve --http did not start:\n%s", serveErr)
		}
	}
	out := asDaemon("token", "new", "--scope", "read,transfer,offline", "--label", "agent")
	m := regexp.MustCompile(`(?m)^token: (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("token new printed no token")
	}
	token := m[1]
	tokenFile := filepath.Join(agentHome, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tokenFile, int(agent.uid), int(agent.gid)); err != nil {
		t.Fatal(err)
	}

	// The agent's user cannot read the wallet's home.
	for _, c := range [][]string{{"ls", home}, {"cat", filepath.Join(home, "config.toml")}, {"cat", filepath.Join(home, "dev-password")}, {"cat", filepath.Join(home, "state.db")}} {
		p := c[1]
		cmd := agent.as(exec.Command(c[0], p), agent.gid)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Run(); err == nil {
			t.Fatalf("%s can read %s", agent.name, p)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := agent.as(exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "sdk_client.test.mjs"), agent.gid)
	cmd.Env = append(os.Environ(), "HOME="+agentHome, "WALLETMCP_BIN="+bin, "WALLETMCP_HOME=",
		"WALLETMCP_CONNECT=unix:"+sock, "WALLETMCP_TOKEN_FILE="+tokenFile)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	t.Logf("node --test sdk_client.test.mjs through walletmcp connect, as %s:\n%s", agent.name, so.String())
	if err != nil {
		t.Fatalf("the TypeScript SDK client tests through the bridge failed: %v\n%s\ndaemon:\n%s", err, se.String(), serveErr)
	}
	if !regexp.MustCompile(`(?m)^ℹ pass [1-9]`).MatchString(so.String()) || !regexp.MustCompile(`(?m)^ℹ fail 0$`).MatchString(so.String()) {
		t.Fatalf("node --test ran no test or reported a failure:\n%s", so.String())
	}
	if strings.Contains(so.String()+se.String()+serveErr.String(), token) {
		t.Error("a token appears in the output")
	}
}

// totpCode is the current TOTP code of secret.
func totpCode(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

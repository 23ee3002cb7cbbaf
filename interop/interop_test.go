// Package interop_test runs real MCP clients against a real `walletmcp serve
// --dev` subprocess: the official TypeScript SDK client (sdk_client.test.mjs,
// under Node's test runner) and the MCP Inspector CLI. Both are stricter than
// the go-sdk: the SDK's listTools throws on an output schema that is not an
// object, and Inspector drops such tools without a word.
//
// Node.js 22 and the npm packages pinned in package-lock.json are installed
// by `scripts/ensure-tools.sh interop`, which `make test` runs first. Without
// them these tests fail under CI (CI set) and skip, saying why, elsewhere.
package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/pquerna/otp/totp"
)

// EnvNode names the environment variable that can point at a Node.js 22
// binary; the default is <repo root>/bin/node22/bin/node.
const EnvNode = "WALLETMCP_NODE"

const (
	nodeMajor  = "v22."
	runTimeout = 3 * time.Minute // one node run (the SDK test file, one Inspector call)
	recipient  = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
	installed  = "node_modules/.walletmcp-installed" // ensure-tools.sh's stamp
	inspector  = "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
)

var wantTools = []string{"create_offline_request", "get_approval", "get_balance", "get_policy", "get_transaction", "list_accounts", "prepare_transfer", "send_transfer", "submit_offline_signature"}

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "walletmcp-interop-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "walletmcp")
	out, err := exec.Command("go", "build", "-o", binPath, "../cmd/walletmcp").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building walletmcp: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nodeJS returns the Node.js 22 binary, or fails (CI) or skips the test.
func nodeJS(t *testing.T) string {
	t.Helper()
	node := os.Getenv(EnvNode)
	if node == "" {
		node = filepath.Join("..", "bin", "node22", "bin", "node")
	}
	missing := func(why string) {
		msg := "interop: " + why + "; run `scripts/ensure-tools.sh interop` (make test does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	abs, err := filepath.Abs(node)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(abs, "--version").Output()
	if err != nil {
		missing("no Node.js at " + abs)
	}
	if v := strings.TrimSpace(string(out)); !strings.HasPrefix(v, nodeMajor) {
		missing(abs + " is Node.js " + v + ", want 22")
	}
	if _, err := os.Stat(installed); err != nil {
		missing("the npm packages of interop/package-lock.json are not installed")
	}
	return abs
}

// devHome makes a dev home the way a user's first `serve --dev` does (its
// input at end: it initialises the home, serves nothing and exits) and
// returns it with its TOTP secret.
func devHome(t *testing.T) (home, totpSecret string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "serve", "--dev", "--home", home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("serve --dev on an empty home: %v\n%s", err, &stderr)
	}
	m := regexp.MustCompile(`otpauth://totp/[^\s"]+`).FindString(stderr.String())
	u, err := url.Parse(m)
	if err != nil || u.Query().Get("secret") == "" {
		t.Fatalf("serve --dev printed no otpauth URI:\n%s", &stderr)
	}
	return home, u.Query().Get("secret")
}

// run runs a command and returns its stdout and exit code; stderr is logged.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", filepath.Base(name), &stderr)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	return stdout.String(), 0
}

func TestTypeScriptSDKClient(t *testing.T) {
	node := nodeJS(t)
	home, secret := devHome(t)
	// A test policy without new_recipient_approval, so that a small transfer
	// to a fresh address is submitted; attested with a TOTP code as a user would.
	pol := filepath.Join(home, "policy.toml")
	b, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("new_recipient_approval = true")) {
		t.Fatalf("the dev policy has no new_recipient_approval = true:\n%s", b)
	}
	if err := os.WriteFile(pol, bytes.Replace(b, []byte("new_recipient_approval = true"), []byte("new_recipient_approval = false"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if out, rc := run(t, nil, binPath, "--home", home, "--password-file", filepath.Join(home, "dev-password"), "policy", "attest", "--code", code); rc != 0 {
		t.Fatalf("policy attest: exit %d\n%s", rc, out)
	}
	out, rc := run(t, []string{"WALLETMCP_BIN=" + binPath, "WALLETMCP_HOME=" + home},
		node, "--test", "--test-reporter=spec", "sdk_client.test.mjs")
	t.Logf("node --test sdk_client.test.mjs:\n%s", out)
	if rc != 0 {
		t.Fatalf("the TypeScript SDK client tests failed (exit %d)", rc)
	}
	if !regexp.MustCompile(`(?m)^ℹ pass [1-9]`).MatchString(out) || !regexp.MustCompile(`(?m)^ℹ fail 0$`).MatchString(out) {
		t.Fatalf("node --test ran no test or reported a failure:\n%s", out)
	}
}

// inspectorCLI runs `inspector --cli --format json walletmcp serve --dev
// --home HOME ARGS...` with a throwaway HOME for its own files, and returns
// the decoded JSON on stdout and the exit code.
func inspectorCLI(t *testing.T, node, home string, args ...string) (map[string]any, int) {
	t.Helper()
	own := t.TempDir()
	env := []string{"HOME=" + own, "MCP_CATALOG_PATH=" + filepath.Join(own, "catalog.json"), "MCP_CLIENT_CONFIG_PATH=" + filepath.Join(own, "client.json")}
	full := append([]string{inspector, "--cli", "--format", "json", binPath, "serve", "--dev", "--home", home}, args...)
	out, rc := run(t, env, node, full...)
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("inspector %v: exit %d, stdout is not JSON: %v\n%s", args, rc, err, out)
	}
	return v, rc
}

// resultOf returns the "result" object of an Inspector JSON answer.
func resultOf(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	r, ok := v["result"].(map[string]any)
	if !ok {
		t.Fatalf("no result in %v", v)
	}
	return r
}

func TestInspectorCLI(t *testing.T) {
	node := nodeJS(t)
	// The README's command line, on an empty home: --dev initialises it.
	home := filepath.Join(t.TempDir(), "home")

	// tools/list with --strict: every tool kept, no portability finding.
	v, rc := inspectorCLI(t, node, home, "--strict", "--method", "tools/list")
	if rc != 0 {
		t.Fatalf("tools/list --strict: exit %d: %v", rc, v)
	}
	if f, ok := v["schemaFindings"]; ok {
		t.Errorf("Inspector found schema problems: %v", f)
	}
	tools, _ := resultOf(t, v)["tools"].([]any)
	outputs := map[string]*jsonschema.Resolved{}
	var names []string
	for _, x := range tools {
		tool, _ := x.(map[string]any)
		name, _ := tool["name"].(string)
		names = append(names, name)
		b, _ := json.Marshal(tool["outputSchema"])
		var s jsonschema.Schema
		if err := json.Unmarshal(b, &s); err != nil || s.Type != "object" {
			t.Fatalf("%s: outputSchema %s is not an object schema (%v)", name, b, err)
		}
		rs, err := s.Resolve(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		outputs[name] = rs
	}
	slices.Sort(names)
	if !slices.Equal(names, wantTools) {
		t.Fatalf("Inspector lists %v, want %v", names, wantTools)
	}

	// tools/call: each structured result validates against the listed schema.
	call := func(tool, args string) map[string]any {
		t.Helper()
		v, rc := inspectorCLI(t, node, home, "--method", "tools/call", "--tool-name", tool, "--tool-args-json", args)
		r := resultOf(t, v)
		if rc != 0 || r["isError"] == true {
			t.Fatalf("tools/call %s: exit %d: %v", tool, rc, v)
		}
		sc, ok := r["structuredContent"].(map[string]any)
		if !ok {
			t.Fatalf("tools/call %s: no structured content: %v", tool, r)
		}
		if err := outputs[tool].Validate(sc); err != nil {
			t.Fatalf("tools/call %s: result does not match its output schema: %v\n%v", tool, err, sc)
		}
		return sc
	}
	accts, _ := call("list_accounts", `{}`)["accounts"].([]any)
	if len(accts) != 1 {
		t.Fatalf("list_accounts: %v", accts)
	}
	from, _ := accts[0].(map[string]any)["address"].(string)
	if bal := call("get_balance", `{"address":"`+from+`"}`); bal["balance"] != "100" {
		t.Fatalf("get_balance: %v", bal)
	}
	prep := call("prepare_transfer", `{"from":"`+from+`","to":"`+recipient+`","amount":"0.01"}`)
	if prep["verdict"] != "approval_required" { // a first payment to a new recipient
		t.Fatalf("prepare_transfer: %v", prep)
	}

	// A refused call is a tool error that names its code.
	v, rc = inspectorCLI(t, node, home, "--method", "tools/call", "--tool-name", "get_balance", "--tool-args-json", `{"address":"0x12"}`)
	r := resultOf(t, v)
	content, _ := r["content"].([]any)
	if len(content) == 0 {
		t.Fatalf("get_balance 0x12: no content: %v", v)
	}
	first, _ := content[0].(map[string]any)
	if rc == 0 || r["isError"] != true || !strings.HasPrefix(fmt.Sprint(first["text"]), "invalid_argument: address") {
		t.Fatalf("get_balance 0x12: exit %d, %v", rc, v)
	}
}

package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a process's output, safe to read while it runs.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestConformanceSuite runs the MCP conformance suite's server scenarios
// against `walletmcp serve --dev --http`: every scenario passes or is in
// conformance-baseline.yml with its reason (the suite exits non-zero on a
// new failure and on a baseline entry that now passes). The suite cannot
// send a bearer token, so it goes through a loopback proxy that adds one;
// the proxy passes the Host header on, so the DNS rebinding scenario still
// meets walletmcp's own Host check.
func TestConformanceSuite(t *testing.T) {
	node := nodeJS(t)
	home, _ := devHome(t)

	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := pl.Addr().String()
	_, port, _ := net.SplitHostPort(proxyAddr)
	f, err := os.OpenFile(filepath.Join(home, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[http]\nrequests_per_minute = 1000000\nhosts = [%q, %q]\n", proxyAddr, "localhost:"+port)
	f.Close()

	serveErr := &syncBuf{}
	serve := exec.Command(binPath, "serve", "--dev", "--home", home, "--http", "127.0.0.1:0")
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
	re := regexp.MustCompile(`serving MCP over HTTP" addr=(127\.0\.0\.1:\d+)`)
	var daemon string
	for deadline := time.Now().Add(60 * time.Second); daemon == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(serveErr.String()); m != nil {
			daemon = m[1]
		}
	}
	if daemon == "" {
		t.Fatalf("serve --http did not start:\n%s", serveErr)
	}
	out, code := run(t, nil, binPath, "--home", home, "token", "new", "--scope", "read,transfer,offline", "--label", "conformance")
	m := regexp.MustCompile(`(?m)^token: (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("token new: exit %d", code)
	}
	token := m[1]

	target, _ := url.Parse("http://" + daemon)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.Out.Header.Set("Authorization", "Bearer "+token)
		},
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(pl)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The suite gives some reads a fixed 2 s (server-sse-multiple-streams
	// reads the first event of three concurrent streams within 2 s), which
	// a 2-core machine running the other packages' tests at the same time
	// has missed once. A failed run is logged and the suite run once more
	// against the same server; the test fails if that run fails too.
	var outputs strings.Builder
	for attempt := 1; ; attempt++ {
		cmd := exec.CommandContext(ctx, node, "node_modules/@modelcontextprotocol/conformance/dist/index.js",
			"server", "--url", "http://"+proxyAddr+"/mcp", "--expected-failures", "conformance-baseline.yml", "-o", t.TempDir())
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err = cmd.Run()
		outputs.WriteString(so.String() + se.String())
		summary := so.String()
		if i := strings.Index(summary, "=== SUMMARY ==="); i >= 0 {
			summary = summary[i:]
		}
		t.Logf("conformance suite, run %d:\n%s", attempt, summary)
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Errorf("the conformance suite failed twice (a scenario not in conformance-baseline.yml failed, or one in it passed): %v\n%s\n%s", err, summary, se.String())
			break
		}
		t.Logf("run %d failed (%v), running the suite once more: %s", attempt, err, se.String())
	}
	if strings.Contains(outputs.String()+serveErr.String(), token) {
		t.Error("a token appears in the suite's or the server's output")
	}
}

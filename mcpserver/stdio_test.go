package mcpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// rawSession runs a bare go-sdk server on a StdioTransport over pipes and
// returns the input writer, a reader of output lines and the Run result.
func rawSession(t *testing.T, stop chan struct{}) (io.WriteCloser, *bufio.Scanner, <-chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	done := make(chan error, 1)
	go func() {
		done <- srv.Run(context.Background(), &StdioTransport{In: inR, Out: outW, Stop: stop})
		outW.Close()
	}()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	sc := bufio.NewScanner(outR)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return inW, sc, done
}

type rpcReply struct {
	ID    json.RawMessage `json:"id"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result json.RawMessage `json:"result"`
}

func nextReply(t *testing.T, sc *bufio.Scanner) rpcReply {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("no reply: %v", sc.Err())
	}
	var r rpcReply
	if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
		t.Fatalf("reply %q: %v", sc.Text(), err)
	}
	return r
}

func waitRun(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}

const initLine = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`

// TestStdioAnswersGarbageAndGoesOn: lines that are not JSON-RPC messages are
// answered with errors (id null, input not echoed) and the session goes on.
func TestStdioAnswersGarbageAndGoesOn(t *testing.T) {
	in, sc, done := rawSession(t, nil)
	write := func(s string) {
		if _, err := io.WriteString(in, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		line string
		code int
	}{
		{"hello secret-looking-words", -32700},
		{`{"jsonrpc":"2.0","id":3,`, -32700},
		{"42", -32600},
		{`{"foo":"bar"}`, -32600},
		{"[]", -32600},
		{strings.Repeat("x", MaxStdioLine+10), -32700},
	} {
		write(c.line)
		r := nextReply(t, sc)
		if r.Error == nil || r.Error.Code != c.code || string(r.ID) != "null" {
			t.Fatalf("reply to %.40q: %+v (id %s), want error %d with id null", c.line, r.Error, r.ID, c.code)
		}
		if strings.Contains(r.Error.Message, "secret-looking") {
			t.Fatalf("the error echoes the input: %q", r.Error.Message)
		}
	}
	write("")
	write(initLine)
	if r := nextReply(t, sc); r.Error != nil || string(r.ID) != "1" || len(r.Result) == 0 {
		t.Fatalf("initialize after garbage: %+v", r)
	}
	write(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	write("still not json")
	if r := nextReply(t, sc); r.Error == nil || r.Error.Code != -32700 {
		t.Fatalf("garbage in session: %+v", r)
	}
	write(`{"jsonrpc":"2.0","id":2,"method":"ping"}` + "\r")
	if r := nextReply(t, sc); r.Error != nil || string(r.ID) != "2" {
		t.Fatalf("ping after garbage: %+v", r)
	}
	// A batch that repeats an id ended the session (the go-sdk's read fails).
	write(`[{"jsonrpc":"2.0","id":30,"method":"ping"},{"jsonrpc":"2.0","id":30,"method":"ping"}]`)
	if r := nextReply(t, sc); r.Error == nil || r.Error.Code != -32600 || string(r.ID) != "null" {
		t.Fatalf("batch repeating an id: %+v", r)
	}
	write(`{"jsonrpc":"2.0","id":31,"method":"ping"}`)
	if r := nextReply(t, sc); r.Error != nil || string(r.ID) != "31" {
		t.Fatalf("ping after the batch: %+v", r)
	}
	in.Close()
	waitRun(t, done)
}

// TestStdioStopEndsCleanly: closing Stop ends the session like the end of
// input, and Run returns no error (serve's Ctrl-C).
func TestStdioStopEndsCleanly(t *testing.T) {
	stop := make(chan struct{})
	in, sc, done := rawSession(t, stop)
	if _, err := io.WriteString(in, initLine+"\n"); err != nil {
		t.Fatal(err)
	}
	if r := nextReply(t, sc); r.Error != nil {
		t.Fatalf("initialize: %+v", r)
	}
	close(stop)
	waitRun(t, done)
}

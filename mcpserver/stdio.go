package mcpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MaxStdioLine bounds one line of input on the stdio transport. A tool's
// arguments are at most 16 KiB (MaxArgumentsBytes), and no message a client
// sends needs more than a fraction of this; the go-sdk's own bound (16 MiB)
// let each call a client left unanswered hold that much.
const MaxStdioLine = 1 << 20

// StdioTransport is MCP over newline-delimited JSON-RPC on a reader and a
// writer (serve's stdin and stdout) that survives bad input: a line that is
// not JSON is answered with a JSON-RPC parse error (-32700, id null), JSON
// that is not a JSON-RPC message with an invalid-request error (-32600), and
// the session goes on; the go-sdk's own transport would end the session. A
// line longer than MaxStdioLine is answered with a parse error and skipped.
// Empty lines are ignored. The answers never echo the input.
//
// When Stop is closed the input ends as if In had reached end of file: the
// session ends cleanly once every call already read is answered (serve's
// Ctrl-C).
type StdioTransport struct {
	// In is the input (os.Stdin).
	In io.Reader
	// Out is the output (os.Stdout); every message is one Write.
	Out io.Writer
	// Stop, when closed, ends the input. Nil: only the end of In does.
	Stop <-chan struct{}
}

var _ mcp.Transport = (*StdioTransport)(nil)

// Connect implements mcp.Transport. It starts a goroutine that reads In
// until its end (or until Stop); like the go-sdk's stdio transport, a read
// of In that never returns keeps that goroutine until the process exits.
func (t *StdioTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	pr, pw := io.Pipe()
	out := &lockedWriter{w: t.Out}
	go filterLines(t.In, pw, out)
	if t.Stop != nil {
		go func() {
			<-t.Stop
			pw.Close()
		}()
	}
	return (&mcp.IOTransport{Reader: pr, Writer: out}).Connect(ctx)
}

// filterLines copies the JSON-RPC messages of in to pw, one line each, and
// answers every other line on out. It closes pw at the end of in.
func filterLines(in io.Reader, pw *io.PipeWriter, out io.Writer) {
	defer pw.Close()
	br := bufio.NewReaderSize(in, 64<<10)
	for {
		line, tooLong, err := readLine(br, MaxStdioLine)
		if len(bytes.TrimSpace(line)) > 0 || tooLong {
			if code, msg := checkMessage(line, tooLong); code != 0 {
				if werr := writeError(out, code, msg); werr != nil {
					return
				}
			} else if _, werr := pw.Write(append(line, '\n')); werr != nil {
				return // the session is over (Stop, or the connection closed)
			}
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line without its line ending. A line longer than max is
// consumed to its end and reported as tooLong, without its content.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+2 { // room for "\r\n"
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		return line, tooLong, err
	}
}

// checkMessage returns a JSON-RPC error code and message for a line that is
// not a JSON-RPC message or batch, or 0.
func checkMessage(line []byte, tooLong bool) (int64, string) {
	switch {
	case tooLong:
		return jsonrpc.CodeParseError, "parse error: line longer than the limit"
	case !json.Valid(line):
		return jsonrpc.CodeParseError, "parse error: the line is not JSON (one JSON-RPC message per line)"
	}
	trimmed := bytes.TrimSpace(line)
	if trimmed[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(trimmed, &batch); err != nil || len(batch) == 0 {
			return jsonrpc.CodeInvalidRequest, "invalid request: an empty or malformed batch"
		}
		ids := map[any]bool{}
		for _, m := range batch {
			msg, err := jsonrpc.DecodeMessage(m)
			if err != nil {
				return jsonrpc.CodeInvalidRequest, "invalid request: a batch element is not a JSON-RPC message"
			}
			// The go-sdk ends the session on a batch that repeats an id.
			if r, ok := msg.(*jsonrpc.Request); ok && r.IsCall() {
				if ids[r.ID.Raw()] {
					return jsonrpc.CodeInvalidRequest, "invalid request: a batch repeats a request id"
				}
				ids[r.ID.Raw()] = true
			}
		}
		return 0, ""
	}
	if _, err := jsonrpc.DecodeMessage(trimmed); err != nil {
		return jsonrpc.CodeInvalidRequest, "invalid request: not a JSON-RPC 2.0 message"
	}
	return 0, ""
}

// nullIDError is a JSON-RPC error response whose id is null, as JSON-RPC 2.0
// §5 requires when the request's id could not be read (the go-sdk's encoder
// omits a zero id instead).
type nullIDError struct {
	JSONRPC string           `json:"jsonrpc"`
	ID      *json.RawMessage `json:"id"` // always nil: encodes as null
	Error   *jsonrpc.Error   `json:"error"`
}

// writeError writes a JSON-RPC error response with a null id.
func writeError(out io.Writer, code int64, msg string) error {
	data, err := json.Marshal(nullIDError{JSONRPC: "2.0", Error: &jsonrpc.Error{Code: code, Message: msg}})
	if err != nil {
		return err
	}
	_, err = out.Write(append(data, '\n'))
	return err
}

// lockedWriter serialises whole messages from the session and the line
// filter; closing it leaves the underlying writer open (as the go-sdk does
// with stdout).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) Close() error { return nil }

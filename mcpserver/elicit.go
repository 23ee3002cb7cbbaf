package mcpserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/policy"
)

// elicitationKey names the one input request send_transfer makes.
const elicitationKey = "approval"

// supportsURLElicitation reports whether the client declared URL-mode
// elicitation. The SDK does not check this on 2026-07-28, so we do, and fail
// closed: without it, send_transfer returns approval_required at once.
func supportsURLElicitation(req *mcp.CallToolRequest) bool {
	caps := req.ClientCapabilities()
	return caps != nil && caps.Elicitation != nil && caps.Elicitation.URL != nil
}

// requestState is what send_transfer asks the client to send back with the
// elicitation's answer. It is MAC'd with a per-process key, bound to the
// exact arguments, so a client cannot point it at another approval or
// transfer, and it expires with its approval: a retry after that is an
// expired tool error that points at get_approval.
type requestState struct {
	ApprovalID string `json:"a"`
	URL        string `json:"u"`
	Args       string `json:"h"` // hex sha256 of the canonical arguments
	Expires    int64  `json:"e"` // unix seconds
}

func argsDigest(in sendIn) string {
	b, _ := json.Marshal([]string{in.From, in.To, in.Amount, in.Asset, in.IdempotencyKey})
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) signState(st requestState) string {
	b, _ := json.Marshal(st)
	m := hmac.New(sha256.New, s.stateKey)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errBadState = policy.Errorf(policy.CodeInvalidArgument, "requestState: invalid or from another server run; call get_approval with the approval_id")

func (s *Server) openState(raw string, in sendIn) (*requestState, error) {
	if len(raw) > 2048 {
		return nil, errBadState
	}
	body, mac, ok := strings.Cut(raw, ".")
	if !ok {
		return nil, errBadState
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil {
		return nil, errBadState
	}
	m := hmac.New(sha256.New, s.stateKey)
	m.Write(b)
	if !hmac.Equal(got, m.Sum(nil)) {
		return nil, errBadState
	}
	var st requestState
	if err := json.Unmarshal(b, &st); err != nil || st.ApprovalID == "" {
		return nil, errBadState
	}
	if st.Args != argsDigest(in) {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "requestState: belongs to a call with other arguments")
	}
	if exp := time.Unix(st.Expires, 0); !s.opts.Now().Before(exp) {
		return nil, policy.Errorf(policy.CodeExpired, "requestState: expired at %s with approval %s; call get_approval with its approval_id for the outcome",
			exp.UTC().Format(time.RFC3339), st.ApprovalID)
	}
	return &st, nil
}

// askHuman answers send_transfer with a URL elicitation: the client shows
// the approval page link to the human and calls again with the answer.
func (s *Server) askHuman(req *mcp.CallToolRequest, in sendIn, o *approval.Outcome) error {
	st := s.signState(requestState{ApprovalID: o.ApprovalID, URL: o.ApprovalURL, Args: argsDigest(in), Expires: o.ExpiresAt.Unix()})
	msg := "Approve or reject this transfer on the approval page with your authenticator code: " + o.Summary.Line() +
		". Check that the recipient ends in " + o.Summary.ToTail + "."
	return &inputRequired{res: &mcp.CallToolResult{
		InputRequests: mcp.InputRequestMap{elicitationKey: &mcp.ElicitParams{
			Mode: "url", Message: msg, URL: o.ApprovalURL, ElicitationID: o.ApprovalID,
		}},
		RequestState: st,
	}}
}

// resumeApproval handles the second call of an elicitation round trip. An
// "accept" only means the human saw the page: the transfer moves only if the
// approval was made there (or in the CLI) with a valid code. The call waits,
// with progress notifications, until the human decides or the approval
// expires. "decline" and "cancel" leave it pending: rejecting an approval
// is never exposed over MCP (the answer comes from the client, which the
// agent may drive); the human rejects with `walletmcp reject` or on the
// page.
func (s *Server) resumeApproval(ctx context.Context, req *mcp.CallToolRequest, in sendIn) (sendOut, string, error) {
	st, err := s.openState(req.Params.RequestState, in)
	if err != nil {
		s.securityEvent("request_state_refused", map[string]any{"tool": ToolSendTransfer, "reason": err.Error()})
		return sendOut{}, "", err
	}
	action := ""
	if r, ok := req.Params.InputResponses[elicitationKey].(*mcp.ElicitResult); ok {
		action = r.Action
	}
	switch action {
	case "accept":
		return s.waitForHuman(ctx, req, st)
	default:
		return s.currentOutcome(ctx, st)
	}
}

// currentOutcome renders the approval as it is now.
func (s *Server) currentOutcome(ctx context.Context, st *requestState) (sendOut, string, error) {
	v, err := s.opts.Guard.Approval(ctx, st.ApprovalID)
	if err != nil {
		return sendOut{}, "", err
	}
	return approvalOut(v, st.URL)
}

// approvalOut renders an approval as send_transfer output after a human
// was asked: its outcome (approval.ApprovalInfo.Outcome) with lines that say
// so.
func approvalOut(a *approval.ApprovalInfo, url string) (sendOut, string, error) {
	o, err := a.Outcome(url)
	if err != nil {
		return sendOut{}, "", err
	}
	out, _, _ := outcomeOut(o)
	if o.Status == approval.OutcomeSubmitted {
		return out, "submitted " + out.TxHash + " after human approval: " + o.Summary.Line(), nil
	}
	return out, "approval_required " + a.ID + " (" + string(a.Status) + "): poll get_approval", nil
}

// waitForHuman polls the approval until it is final or expires, sending
// progress notifications when the client asked for them.
func (s *Server) waitForHuman(ctx context.Context, req *mcp.CallToolRequest, st *requestState) (sendOut, string, error) {
	token := req.Params.GetProgressToken()
	poll := time.NewTicker(s.opts.PollInterval)
	defer poll.Stop()
	lastProgress := time.Now()
	step := 0.0
	for {
		v, err := s.opts.Guard.Approval(ctx, st.ApprovalID)
		if err != nil {
			return sendOut{}, "", err
		}
		if v.Status.Final() {
			return approvalOut(v, st.URL)
		}
		if token != nil && time.Since(lastProgress) >= s.opts.ProgressInterval {
			step++
			lastProgress = time.Now()
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: token, Progress: step,
				Message: "waiting for the human to approve " + st.ApprovalID + " (" + string(v.Status) + ")",
			})
		}
		select {
		case <-ctx.Done():
			return sendOut{}, "", policy.Errorf(policy.CodeInternal, "cancelled while waiting; approval %s is %s, poll get_approval", st.ApprovalID, v.Status)
		case <-s.drain.closing():
			// The client closed its input: stop waiting so the session can
			// end; the approval stays as it is.
			return approvalOut(v, st.URL)
		case <-poll.C:
		}
	}
}

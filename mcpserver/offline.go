package mcpserver

import (
	"context"
	"errors"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/policy"
)

type offlineRequestOut struct {
	RequestID string         `json:"request_id" jsonschema:"a UUID; the same 16 bytes as the UR's request-id"`
	UR        []string       `json:"ur" jsonschema:"the ur:eth-sign-request, one element per part (each also an image/png QR code in this result's content)"`
	Summary   policy.Summary `json:"summary"`
	ExpiresAt string         `json:"expires_at" jsonschema:"RFC 3339; submit the signature before"`
	qr        [][]byte
}

// images returns one image/png content per UR part.
func (o offlineRequestOut) images() []mcp.Content {
	out := make([]mcp.Content, 0, len(o.qr))
	for _, png := range o.qr {
		out = append(out, &mcp.ImageContent{Data: png, MIMEType: "image/png"})
	}
	return out
}

type submitIn struct {
	RequestID string `json:"request_id" jsonschema:"the request_id create_offline_request returned"`
	Signature string `json:"signature" jsonschema:"the device's ur:eth-signature, or 0x followed by the 65-byte signature in hex (v 0/1 or 27/28)"`
}

type submitOut struct {
	Status string `json:"status" jsonschema:"submitted"`
	TxHash string `json:"tx_hash"`
}

// addOfflineTools registers the offline signing tools.
func (s *Server) addOfflineTools() error {
	return errors.Join(
		addTool(s, &mcp.Tool{Name: ToolCreateOfflineRequest, Title: "Create an offline signing request", Annotations: notDestructive,
			Description: "For an offline account (backend offline: its key is on an air-gapped device), build the unsigned transfer " +
				"after the same validation and policy as send_transfer (a denial is policy_denied) and return it as ur:eth-sign-request " +
				"QR codes (one PNG per part) for the human to scan and sign on the device. Nothing is sent; the request expires at expires_at. " +
				"Then call submit_offline_signature with the signature the device shows."},
			s.createOfflineRequest),
		addTool(s, &mcp.Tool{Name: ToolSubmitOfflineSignature, Title: "Submit an offline signature", Annotations: destructive,
			Description: "Broadcast an offline request's transfer with the signature made on the air-gapped device (ur:eth-signature or 0x hex). " +
				"Accepted only if it signs exactly that request's transaction by its account, the request is unexpired and unused, " +
				"and the policy still allows it; a request is used once."},
			s.submitOfflineSignature),
	)
}

var notDestructive = &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: boolPtr(false), IdempotentHint: false, OpenWorldHint: boolPtr(true)}

func (s *Server) createOfflineRequest(ctx context.Context, _ *mcp.CallToolRequest, in transferIn) (offlineRequestOut, string, error) {
	r, err := s.opts.Guard.CreateOfflineRequest(ctx, approval.TransferArgs{From: in.From, To: in.To, Amount: in.Amount, Asset: in.Asset})
	if err != nil {
		return offlineRequestOut{}, "", err
	}
	out := offlineRequestOut{RequestID: r.ID, UR: nonNil(r.UR), Summary: r.Summary,
		ExpiresAt: r.ExpiresAt.UTC().Format(time.RFC3339), qr: r.QR}
	line := "offline request " + r.ID + " (" + plural(len(r.UR), "QR part") + ", expires " + out.ExpiresAt + "): sign " +
		r.Summary.Line() + " on the device, then call submit_offline_signature"
	return out, line, nil
}

func (s *Server) submitOfflineSignature(ctx context.Context, _ *mcp.CallToolRequest, in submitIn) (submitOut, string, error) {
	o, err := s.opts.Guard.SubmitOfflineSignature(ctx, in.RequestID, in.Signature)
	if err != nil {
		return submitOut{}, "", err
	}
	out := submitOut{Status: string(o.Status), TxHash: o.TxHash.Hex()}
	return out, "submitted " + out.TxHash + ": " + o.Summary.Line(), nil
}

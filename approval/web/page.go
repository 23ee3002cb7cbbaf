package web

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
)

// pageStyle is the page's only style, inline and allowed by its hash in the
// Content-Security-Policy. The recipient's tail (.tail) must stand out.
const pageStyle = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f4f2;color:#111}
main{max-width:48rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border:1px solid #bbb;border-radius:8px}
h1{font-size:1.4rem;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{text-align:left;vertical-align:top;padding:.45rem .5rem;border-bottom:1px solid #e4e4e4}
th{width:10rem;font-weight:600;color:#444}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.tail{background-color:#ffd400;color:#000;font-weight:700;padding:0 .15em;border-bottom:3px solid #000}
.amount{font-size:1.3rem;font-weight:700}
.msg{padding:.6rem .8rem;border-radius:6px;margin:0 0 1rem}
.err{background:#fdeaea;border:1px solid #c33}
.ok{background:#e9f6ec;border:1px solid #2a7a3e}
.check{background:#fff8d6;border:1px solid #c9a800;padding:.6rem .8rem;border-radius:6px}
form{display:inline-block;margin:1rem 1.5rem 0 0;vertical-align:bottom}
label{display:block;font-weight:600;margin-bottom:.3rem}
input{font:1.5rem ui-monospace,Menlo,Consolas,monospace;width:8ch;letter-spacing:.15em;padding:.3rem .4rem}
button{font-size:1rem;padding:.55rem 1.3rem;border-radius:6px;border:1px solid #333;cursor:pointer}
.approve{background:#1d6b32;color:#fff;border-color:#1d6b32}
.reject{background:#fff;color:#a00;border-color:#a00}
footer{margin-top:1.5rem;color:#666;font-size:.85rem}
`

// pageHTML is the one template: a summary, optionally the two forms, or a
// bare message. No scripts, no remote resources, no links.
const pageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · walletmcp</title>
<style>{{.Style}}</style>
</head>
<body>
<main id="{{if .Form}}pending{{else if .Approval}}decided{{else}}notice{{end}}"{{with .Approval}} data-status="{{.Status}}"{{end}}>
<h1 id="title">{{.Title}}</h1>
{{- if .Message}}
<p id="message" class="msg {{if .IsError}}err{{else}}ok{{end}}" role="{{if .IsError}}alert{{else}}status{{end}}">{{.Message}}</p>
{{- end}}
{{- with .Approval}}
<table id="summary">
<tr><th scope="row">Amount</th><td><span id="amount" class="amount">{{.Amount}}</span> <span id="asset" class="amount">{{.Asset}}</span><br><span class="mono" id="amount-base">{{.AmountBaseUnits}}</span> base units</td></tr>
<tr><th scope="row">To</th><td id="to" class="mono">{{.ToHead}}<mark id="to-tail" class="tail">{{.ToTail}}</mark></td></tr>
<tr><th scope="row">From</th><td id="from" class="mono">{{.From}}</td></tr>
{{- if .Contract}}
<tr><th scope="row">Token contract</th><td id="contract" class="mono">{{.Contract}}</td></tr>
{{- end}}
<tr><th scope="row">Maximum fee</th><td><span id="max-fee">{{.MaxFee}}</span> ETH</td></tr>
<tr><th scope="row">Chain id</th><td id="chain-id">{{.ChainID}}</td></tr>
<tr><th scope="row">Expires</th><td id="expires">{{.ExpiresAt}}{{if .ExpiresIn}} ({{.ExpiresIn}}){{end}}</td></tr>
<tr><th scope="row">Status</th><td id="status">{{.Status}}</td></tr>
{{- if .TxHash}}
<tr><th scope="row">Transaction</th><td id="tx-hash" class="mono">{{.TxHash}}</td></tr>
{{- end}}
<tr><th scope="row">Request id</th><td id="approval-id" class="mono">{{.ID}}</td></tr>
</table>
{{- if .Reasons}}
<p>Why this transfer needs you:</p>
<ul id="reasons">
{{- range .Reasons}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- end}}
{{- if .Form}}
<p class="check">Check the recipient before you approve: it must end in <mark class="tail">{{.Approval.ToTail}}</mark>. Approve only a transfer you asked for.</p>
<form id="approve-form" method="post" action="{{.ApproveAction}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="code">6-digit code from your authenticator</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" minlength="6" maxlength="6" required autofocus>
<button id="approve" class="approve" type="submit">Approve</button>
</form>
<form id="reject-form" method="post" action="{{.RejectAction}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button id="reject" class="reject" type="submit">Reject</button>
</form>
{{- end}}
<footer>walletmcp approval page · served only to this computer</footer>
</main>
</body>
</html>
`

// summaryView is one approval as the template shows it: plain strings.
type summaryView struct {
	ID              string
	Status          string
	ChainID         uint64
	From            string
	ToHead          string
	ToTail          string
	Amount          string
	AmountBaseUnits string
	Asset           string
	MaxFee          string
	Contract        string
	ExpiresAt       string
	ExpiresIn       string
	TxHash          string
	Reasons         []string
}

// pageData is what pageHTML renders.
type pageData struct {
	Title         string
	Message       string
	IsError       bool
	Approval      *summaryView
	Form          bool
	CSRF          string
	ApproveAction string
	RejectAction  string
	Style         template.CSS
}

func parsePage() (*template.Template, error) {
	return template.New("page").Parse(pageHTML)
}

// styleHash is the CSP source expression allowing pageStyle.
func styleHash() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/policy"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// Approval is what the page shows about one pending approval.
type Approval struct {
	ID        string
	Status    approvalstate.Status
	ExpiresAt time.Time
	Summary   policy.Summary
	// Reasons say why the transfer needs the human (the policy's messages,
	// one per rule); shown as a list.
	Reasons []string
	// TxHash is set once the transaction was broadcast.
	TxHash string
}

// ViewOf turns an approval that approval.VerifyStored checked into what the
// page shows: the reasons are the policy's messages.
func ViewOf(v *approval.HumanView) *Approval {
	a := &Approval{ID: v.ID, Status: v.Status, ExpiresAt: v.ExpiresAt, Summary: v.Summary}
	if v.TxHash != nil {
		a.TxHash = v.TxHash.Hex()
	}
	for _, r := range v.Reasons {
		a.Reasons = append(a.Reasons, r.Message)
	}
	return a
}

// Channel is the channel name the page passes to the Decider.
const Channel = "web"

// Decider is the approval service as the page uses it.
type Decider interface {
	// CheckLink returns the approval that id and token name, or an error when
	// the link is wrong (unknown id or wrong token). An error wrapping
	// approval.ErrSummaryMismatch or approval.ErrSummaryUnreadable (the link
	// is right, but what would be shown is not what would be signed) is shown
	// as such and nothing can be decided.
	CheckLink(ctx context.Context, id, token string) (*Approval, error)
	// Approve approves id with a TOTP code entered on channel. Its errors
	// (wrong or used code, expired, locked, not pending) are shown to the
	// human and never contain secrets.
	Approve(ctx context.Context, id, code, channel string) error
	// Reject rejects id on channel.
	Reject(ctx context.Context, id, channel string) error
}

// Options configures a Server. Nil means all defaults.
type Options struct {
	// Addr is the listen address; default "127.0.0.1:0" (a free port). Only
	// loopback addresses (127.0.0.0/8, ::1, localhost) are accepted.
	Addr string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives one line per decision and refusal (never a token or
	// code); default discards.
	Logger *slog.Logger
	// Rand is the source of CSRF tokens; default crypto/rand.Reader.
	Rand io.Reader
}

// Limits of a request.
const (
	maxBodyBytes      = 4 << 10
	maxHeaderBytes    = 8 << 10
	maxPartLen        = 128
	handlerTimeout    = 15 * time.Second
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 20 * time.Second
	idleTimeout       = 60 * time.Second
	maxMessageLen     = 400
)

// ErrNotLoopback is returned by New and Start for an address that is not a
// loopback address.
var ErrNotLoopback = errors.New("web: the approval page listens on loopback only")

// Server serves the approval page.
type Server struct {
	d    Decider
	addr string
	now  func() time.Time
	log  *slog.Logger
	csrf *csrfStore
	tmpl *template.Template
	csp  string

	mu      sync.Mutex
	ln      net.Listener
	srv     *http.Server
	hosts   []string // allowed Host header values
	origin  []string // allowed Origin values, parallel to hosts
	baseURL string
}

// New returns a Server over d. It does not listen until Start.
func New(d Decider, opts *Options) (*Server, error) {
	if d == nil {
		return nil, errors.New("web: nil Decider")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	addr, err := loopbackAddr(o.Addr)
	if err != nil {
		return nil, err
	}
	tmpl, err := parsePage()
	if err != nil {
		return nil, fmt.Errorf("web: template: %w", err)
	}
	return &Server{
		d:    d,
		addr: addr,
		now:  o.Now,
		log:  o.Logger,
		csrf: newCSRFStore(o.Rand, o.Now),
		tmpl: tmpl,
		csp: "default-src 'none'; style-src " + styleHash() +
			"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	}, nil
}

// loopbackAddr checks that addr is host:port with a loopback host and
// returns it with localhost spelled 127.0.0.1.
func loopbackAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("web: listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// Start listens on the loopback address and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("web: server already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("web: listen: %w", err)
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("%w: bound to %v", ErrNotLoopback, ln.Addr())
	}
	own := ln.Addr().String()
	local := net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	s.ln = ln
	s.hosts = []string{own, local}
	s.origin = []string{"http://" + own, "http://" + local}
	s.baseURL = "http://" + own
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv := s.srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("web: approval page stopped", "err", err)
		}
	}()
	s.log.Info("web: approval page listening", "addr", own)
	return nil
}

// Addr is the address the server listens on (127.0.0.1:PORT), or "" before
// Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the approval link for id and its link token, e.g.
// http://127.0.0.1:PORT/a/<id>/<token>. It is "" before Start.
func (s *Server) URL(id, token string) string {
	s.mu.Lock()
	base := s.baseURL
	s.mu.Unlock()
	if base == "" {
		return ""
	}
	return base + linkPath(id, token)
}

func linkPath(id, token string) string {
	return "/a/" + url.PathEscape(id) + "/" + url.PathEscape(token)
}

// Close shuts the server down, waiting for requests in flight until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")

	s.mu.Lock()
	hosts, origins := s.hosts, s.origin
	s.mu.Unlock()
	hostIdx := -1
	for i, hv := range hosts {
		if strings.EqualFold(r.Host, hv) {
			hostIdx = i
			break
		}
	}
	if hostIdx < 0 {
		s.log.Warn("web: refused request for a foreign host")
		s.notice(w, http.StatusMisdirectedRequest, "Wrong address", "Open the approval link exactly as walletmcp gave it.")
		return
	}

	id, token, action, ok := splitPath(r.URL.Path)
	if !ok {
		s.notFound(w)
		return
	}
	switch {
	case action == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
	case action != "" && r.Method == http.MethodPost:
	default:
		if action == "" {
			h.Set("Allow", "GET, HEAD")
		} else {
			h.Set("Allow", "POST")
		}
		s.notice(w, http.StatusMethodNotAllowed, "Method not allowed", "This page accepts only its own forms.")
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
	defer cancel()
	if action == "" {
		s.view(ctx, w, id, token)
		return
	}

	if !sameOrigin(r, origins[hostIdx]) {
		s.log.Warn("web: refused a cross-origin post", "approval", id)
		s.notice(w, http.StatusForbidden, "Refused", "This form can only be sent from the approval page itself.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.notice(w, http.StatusRequestEntityTooLarge, "Refused", "The form was too large.")
			return
		}
		s.notice(w, http.StatusBadRequest, "Refused", "The form could not be read.")
		return
	}
	s.decide(ctx, w, r, id, token, action)
}

// splitPath parses /a/{id}/{token} and /a/{id}/{token}/{approve|reject}; id
// must be an approval id (approvalstate.ValidID).
func splitPath(p string) (id, token, action string, ok bool) {
	rest, found := strings.CutPrefix(p, "/a/")
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2:
	case len(parts) == 3 && (parts[2] == "approve" || parts[2] == "reject"):
		action = parts[2]
	default:
		return "", "", "", false
	}
	if !approvalstate.ValidID(parts[0]) || !validPart(parts[1]) {
		return "", "", "", false
	}
	return parts[0], parts[1], action, true
}

// sameOrigin reports whether a POST came from the page's own origin: Origin
// must equal it; only when Origin is absent may Referer's origin stand in.
func sameOrigin(r *http.Request, own string) bool {
	if vs, present := r.Header["Origin"]; present {
		return len(vs) == 1 && vs[0] == own
	}
	ref := r.Header.Get("Referer")
	if ref == "" {
		return false
	}
	u, err := url.Parse(ref)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	return u.Scheme+"://"+u.Host == own
}

// view renders the approval: the summary and the forms while it is pending.
func (s *Server) view(ctx context.Context, w http.ResponseWriter, id, token string) {
	a, err := s.d.CheckLink(ctx, id, token)
	if unverified(err) {
		s.inconsistent(w, id, err)
		return
	}
	if err != nil || a == nil {
		s.log.Info("web: wrong approval link")
		s.notFound(w)
		return
	}
	s.showApproval(w, http.StatusOK, a, id, token, "", false)
}

// decide handles POST approve and reject.
func (s *Server) decide(ctx context.Context, w http.ResponseWriter, r *http.Request, id, token, action string) {
	a, err := s.d.CheckLink(ctx, id, token)
	if unverified(err) {
		s.inconsistent(w, id, err)
		return
	}
	if err != nil || a == nil {
		s.log.Info("web: wrong approval link")
		s.notFound(w)
		return
	}
	if st := s.effectiveStatus(a); st != approvalstate.Pending {
		s.log.Info("web: post to a decided approval", "approval", id, "status", st)
		s.showApproval(w, http.StatusConflict, a, id, token,
			"This link was already used: the request is "+string(st)+". Nothing was changed.", true)
		return
	}
	if !s.csrf.take(id, r.PostForm.Get("csrf")) {
		s.log.Warn("web: refused a post without a valid form token", "approval", id)
		s.notice(w, http.StatusForbidden, "Refused",
			"This form is missing its token, has expired or was already sent. Open the approval link again.")
		return
	}

	var derr error
	switch action {
	case "approve":
		code := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
		if !isCode(code) {
			s.showApproval(w, http.StatusUnprocessableEntity, a, id, token, "Enter the 6-digit code from your authenticator.", true)
			return
		}
		derr = s.d.Approve(ctx, id, code, Channel)
	case "reject":
		derr = s.d.Reject(ctx, id, Channel)
	}
	if derr != nil {
		s.log.Info("web: decision refused", "approval", id, "action", action, "err", derr)
		status := http.StatusUnprocessableEntity
		if b, err := s.d.CheckLink(ctx, id, token); err == nil && b != nil {
			a = b
			if s.effectiveStatus(a) != approvalstate.Pending {
				status = http.StatusConflict
			}
		}
		s.showApproval(w, status, a, id, token, decisionMessage(derr), true)
		return
	}
	s.log.Info("web: decision recorded", "approval", id, "action", action)
	// Post/redirect/get: the link now shows the decided state, and reloading
	// it sends nothing again.
	w.Header().Set("Location", linkPath(id, token))
	w.WriteHeader(http.StatusSeeOther)
}

// validPart reports whether a link token has the shape of one: 1 to
// 128 of [A-Za-z0-9_-]. Anything else is a wrong link before the Decider is
// asked.
func validPart(p string) bool {
	if len(p) == 0 || len(p) > maxPartLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isCode(c string) bool {
	if len(c) != 6 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return false
		}
	}
	return true
}

// decisionMessage is the Decider's error as the human reads it: a sentence
// for a refused code (how many tries are left, until when the link or the
// page is locked), for an approval that cannot be decided any more, or the
// message of an *approval.Error without its code; never an internal error's
// text with its package prefix. It is bounded in length.
func decisionMessage(err error) string {
	msg, ok := totp.Message(err)
	var ae *policy.Error
	switch {
	case ok:
	case errors.Is(err, pending.ErrExpired):
		msg = "This request expired before it was approved. Nothing was sent."
	case errors.Is(err, pending.ErrNotPending):
		msg = "This request was already decided elsewhere. Nothing was changed."
	case errors.Is(err, pending.ErrNotFound):
		msg = "This request does not exist any more. Nothing was sent."
	case errors.As(err, &ae):
		msg = ae.Msg
	default:
		msg = "The decision could not be recorded, so nothing was approved. Try again, or use `walletmcp approve` in a terminal."
	}
	if len(msg) > maxMessageLen {
		msg = strings.ToValidUTF8(msg[:maxMessageLen], "") + "…"
	}
	if msg == "" {
		msg = "The request was refused."
	}
	return msg
}

// effectiveStatus is a's status, with a pending approval past its expiry
// shown as expired.
func (s *Server) effectiveStatus(a *Approval) approvalstate.Status {
	if a.Status == approvalstate.Pending && !s.now().Before(a.ExpiresAt) {
		return approvalstate.Expired
	}
	return a.Status
}

// statusText is the page title and the message for an approval's status;
// ok is false for a status this page does not know.
func statusText(st approvalstate.Status) (title, msg string, ok bool) {
	switch st {
	case approvalstate.Pending:
		return "Approve this transfer?", "", true
	case approvalstate.Approved:
		return "Approved", "You approved this transfer. walletmcp signs and sends it now.", true
	case approvalstate.Rejected:
		return "Rejected", "This transfer was rejected. Nothing was sent.", true
	case approvalstate.Expired:
		return "Expired", "This request expired before it was approved. Nothing was sent.", true
	case approvalstate.Executed:
		return "Approved and sent", "This transfer was approved and sent.", true
	case approvalstate.Failed:
		return "Approved, but sending failed", "This transfer was approved, but sending it failed.", true
	}
	return "Unknown state", "", false
}

// showApproval renders a with the forms if it is still pending.
func (s *Server) showApproval(w http.ResponseWriter, code int, a *Approval, id, token, msg string, isErr bool) {
	st := s.effectiveStatus(a)
	title, stMsg, known := statusText(st)
	if !known {
		st = "unknown"
	}
	v, err := s.summaryView(a, id, st)
	if err != nil {
		s.inconsistent(w, id, err)
		return
	}
	d := pageData{Title: title, Approval: v, Message: msg, IsError: isErr}
	if msg == "" {
		d.Message = stMsg
	}
	if st == approvalstate.Pending {
		tok, err := s.csrf.issue(id)
		if err != nil {
			s.log.Error("web: cannot issue a form token", "err", err)
			s.notice(w, http.StatusInternalServerError, "Cannot show this request", "Try again.")
			return
		}
		d.Form = true
		d.CSRF = tok
		d.ApproveAction = linkPath(id, token) + "/approve"
		d.RejectAction = linkPath(id, token) + "/reject"
		// Under no-referrer a browser's form POST carries "Origin: null",
		// which sameOrigin refuses; same-origin still sends nothing to any
		// other origin.
		w.Header().Set("Referrer-Policy", "same-origin")
	}
	s.render(w, code, &d)
}

// summaryView checks a's summary and turns it into strings for the template.
func (s *Server) summaryView(a *Approval, id string, st approvalstate.Status) (*summaryView, error) {
	if a.ID != id {
		return nil, errors.New("approval id does not match the link")
	}
	sum := a.Summary
	to := sum.To
	if len(to) < 8 || !strings.HasPrefix(to, "0x") {
		return nil, errors.New("recipient is not an address")
	}
	head, tail := to[:len(to)-6], to[len(to)-6:]
	if sum.ToTail != "" && !strings.EqualFold(sum.ToTail, tail) {
		return nil, errors.New("to_tail is not the recipient's last six characters")
	}
	if sum.Amount == "" || sum.Asset == "" {
		return nil, errors.New("amount or asset missing")
	}
	v := &summaryView{
		ID: a.ID, Status: string(st), ChainID: sum.ChainID, From: sum.From,
		ToHead: head, ToTail: tail, Amount: sum.Amount, AmountBaseUnits: sum.AmountBaseUnits,
		Asset: sum.Asset, MaxFee: sum.MaxFee, Contract: sum.Contract, TxHash: a.TxHash,
		ExpiresAt: a.ExpiresAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		Reasons:   a.Reasons,
	}
	if left := a.ExpiresAt.Sub(s.now()); st == approvalstate.Pending && left > 0 {
		v.ExpiresIn = "in " + humanDuration(left)
	}
	return v, nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min " + strconv.Itoa(int(d%time.Minute/time.Second)) + " s"
	default:
		return d.Truncate(time.Minute).String()
	}
}

// unverified reports whether err is the Decider's refusal of an approval
// whose summary does not describe the transfer it approves.
func unverified(err error) bool {
	return errors.Is(err, approval.ErrSummaryMismatch) || errors.Is(err, approval.ErrSummaryUnreadable)
}

// inconsistent refuses to show (and so to decide) an approval whose summary
// is not what would be signed.
func (s *Server) inconsistent(w http.ResponseWriter, id string, err error) {
	s.log.Error("web: refusing to show an inconsistent summary", "approval", id, "err", err)
	s.notice(w, http.StatusInternalServerError, "Cannot show this request",
		"The request's summary is inconsistent, so it cannot be approved here. Nothing was sent.")
}

// notFound is the one page for every wrong link: it does not say which part
// was wrong.
func (s *Server) notFound(w http.ResponseWriter) {
	s.notice(w, http.StatusNotFound, "Link not valid",
		"This approval link is not valid. Check that you opened the whole link that walletmcp gave you.")
}

// notice renders a page with a title and a message and nothing else.
func (s *Server) notice(w http.ResponseWriter, code int, title, msg string) {
	s.render(w, code, &pageData{Title: title, Message: msg, IsError: code >= 400})
}

func (s *Server) render(w http.ResponseWriter, code int, d *pageData) {
	d.Style = template.CSS(pageStyle)
	var buf bytes.Buffer
	if err := s.tmpl.Execute(&buf, d); err != nil {
		s.log.Error("web: render", "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "internal error\n")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

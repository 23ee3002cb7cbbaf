package pending

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/pquerna/otp/hotp"

	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// step0 is the TOTP time step of t0; t0 is 10 s into it.
const step0 = 58_712_345

var t0 = time.Unix(step0*30+10, 0).UTC()

var (
	alice = common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	bob   = common.HexToAddress("0x0000000000000000000000000000000000000b0b")
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is an Auditor that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []map[string]any
}

func (r *recorder) Append(_ context.Context, typ string, fields any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(fields)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["type"] = typ
	r.events = append(r.events, m)
	return nil
}

func (r *recorder) find(event string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, e := range r.events {
		if e["event"] == event {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(r.events)
	return string(b)
}

type fixture struct {
	path string
	st   *store.Store
	clk  *clock
	lg   *recorder
	svc  *Service
}

// newFixture opens a store with TOTP enrolled (testSecret) and a Service at t0.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "state.db"), clk: &clock{t: t0}, lg: &recorder{}}
	f.st = f.open(t)
	if err := totp.Enrol(context.Background(), f.st, sealKey(), testSecret, -1, t0); err != nil {
		t.Fatal(err)
	}
	f.svc = f.service(t, f.st)
	return f
}

func (f *fixture) open(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), f.path, &store.Options{Now: f.clk.Now, Key: make([]byte, store.KeyLen)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func (f *fixture) service(t *testing.T, st *store.Store) *Service {
	t.Helper()
	v := totp.NewSealedVerifier(st, f.lg, sealKey(), &totp.Options{Now: f.clk.Now})
	svc, err := New(&Config{Store: st, Verifier: v, Audit: f.lg, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// sealKey is the test home's TOTP sealing key.
func sealKey() *secret.Bytes { return secret.NewBytes(bytes.Repeat([]byte{9}, 32)) }

func code(t *testing.T, step int64) string {
	t.Helper()
	c, err := hotp.GenerateCode(testSecret, uint64(step))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// intent is a parked approval's content: 1 ETH from alice to bob.
func intent(n int64) *store.Approval {
	d := sha256.Sum256([]byte{byte(n)})
	return &store.Approval{
		Digest: d[:], ChainID: 1337, From: alice, To: bob, Asset: store.AssetETH, Amount: big.NewInt(n),
		Summary: []byte(`{"chain_id":1337,"to":"` + bob.Hex() + `"}`),
	}
}

func (f *fixture) park(t *testing.T, a *store.Approval) (*store.Approval, string) {
	t.Helper()
	got, token, err := f.svc.Park(context.Background(), a)
	if err != nil {
		t.Fatalf("Park: %v", err)
	}
	return got, token
}

func (f *fixture) status(t *testing.T, id string) approvalstate.Status {
	t.Helper()
	a, err := f.st.Approval(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status
}

func TestParkApproveExecute(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	in := intent(1e6)
	a, token := f.park(t, in)
	if in.ID != "" || in.LinkTokenHash != nil {
		t.Error("Park modified its argument")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != TokenSize {
		t.Fatalf("token %q: %d bytes, %v", token, len(raw), err)
	}
	sum := sha256.Sum256([]byte(token))
	if !bytes.Equal(a.LinkTokenHash, sum[:]) {
		t.Error("stored link hash is not sha256(token)")
	}
	if a.Status != approvalstate.Pending || !a.CreatedAt.Equal(t0) || !a.ExpiresAt.Equal(t0.Add(DefaultTTL)) || len(a.ID) != 32 {
		t.Fatalf("parked %+v", a)
	}
	list, err := f.svc.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("List: %v %v", list, err)
	}
	f.clk.Advance(time.Minute)
	if err := f.svc.Approve(ctx, a.ID, code(t, step0+2), store.ChannelCLI); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	got, err := f.svc.Get(ctx, a.ID)
	if err != nil || got.Status != approvalstate.Approved || got.Channel != store.ChannelCLI || got.DecidedAt == nil || !got.DecidedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after Approve: %+v %v", got, err)
	}
	if list, _ := f.svc.List(ctx); len(list) != 0 {
		t.Errorf("an approved approval is still listed as pending")
	}
	todo, err := f.st.ApprovedToExecute(ctx)
	if err != nil || len(todo) != 1 || todo[0].ID != a.ID || !bytes.Equal(todo[0].Digest, in.Digest) || todo[0].Amount.Int64() != 1e6 {
		t.Fatalf("ApprovedToExecute: %v %v", todo, err)
	}
	if err := f.st.MarkApprovalExecuted(ctx, a.ID, "transfer-1", common.HexToHash("0xabc")); err != nil {
		t.Fatal(err)
	}
	if got := f.status(t, a.ID); got != approvalstate.Executed {
		t.Fatalf("status %s", got)
	}
	// Decided once: neither approving nor rejecting changes it now.
	if err := f.svc.Reject(ctx, a.ID, store.ChannelWeb); !errors.Is(err, ErrNotPending) || !strings.Contains(err.Error(), "executed") {
		t.Errorf("Reject of an executed approval: %v", err)
	}
	for _, ev := range []string{"approval_parked", "approval_approved"} {
		e := f.lg.find(ev)
		if len(e) != 1 || e[0]["approval_id"] != a.ID || e[0]["digest"] == "" || e[0]["to"] != bob.Hex() || e[0]["amount"] != "1000000" {
			t.Errorf("%s events: %v", ev, e)
		}
	}
	if e := f.lg.find("approval_approved"); len(e) == 1 && (e[0]["channel"] != "cli" || e[0]["type"] != "verdict" || e[0]["totp_step"] != float64(step0+2)) {
		t.Errorf("approved event: %v", e[0])
	}
	if strings.Contains(f.lg.text(), token) {
		t.Error("the link token is in the audit log")
	}
}

func TestParkIdempotency(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := intent(5)
	a.IdempotencyKey, a.ArgsHash = "k1", bytes.Repeat([]byte{1}, 32)
	first, token := f.park(t, a)
	if token == "" {
		t.Fatal("no token for a new approval")
	}
	f.clk.Advance(time.Second)
	again, token2, err := f.svc.Park(ctx, a)
	if err != nil || again.ID != first.ID || token2 != "" {
		t.Fatalf("same key: %v %q %v, want the first approval and no token", again, token2, err)
	}
	b := intent(6)
	b.IdempotencyKey, b.ArgsHash = "k1", bytes.Repeat([]byte{2}, 32)
	if _, _, err := f.svc.Park(ctx, b); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same key, other args: %v", err)
	}
	if n := len(f.lg.find("approval_parked")); n != 1 {
		t.Errorf("%d parked events, want 1", n)
	}
}

func TestParkInvalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*store.Approval)
	}{
		{"no digest", func(a *store.Approval) { a.Digest = nil }},
		{"no summary", func(a *store.Approval) { a.Summary = nil }},
		{"no amount", func(a *store.Approval) { a.Amount = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			a := intent(1)
			tt.modify(a)
			if _, _, err := f.svc.Park(context.Background(), a); err == nil {
				t.Fatal("parked")
			}
		})
	}
	f := newFixture(t)
	svc, _ := New(&Config{Store: f.st, Audit: f.lg, Rand: bytes.NewReader(make([]byte, 10))})
	if _, _, err := svc.Park(context.Background(), intent(1)); err == nil {
		t.Fatal("parked without randomness for the token")
	}
}

func TestApproveRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		setup      func(t *testing.T, f *fixture, id string) // before the Approve under test
		id         func(id string) string
		code       func(t *testing.T) string
		channel    string
		want       error
		wantStatus approvalstate.Status
		codeSpent  bool // the right code was consumed (a second approval cannot use it)
	}{
		{
			name: "wrong code", code: func(t *testing.T) string { return "000000" }, want: totp.ErrWrongCode, wantStatus: approvalstate.Pending,
		},
		{
			name: "malformed code", code: func(t *testing.T) string { return "12345" }, want: totp.ErrMalformed, wantStatus: approvalstate.Pending,
		},
		{
			name: "unknown id", id: func(string) string { return "00000000000000000000000000000000" }, want: ErrNotFound, wantStatus: approvalstate.Pending,
		},
		{
			name: "bad channel", channel: "mcp", want: errAny, wantStatus: approvalstate.Pending,
		},
		{
			name: "expired", want: ErrExpired, wantStatus: approvalstate.Expired,
			setup: func(t *testing.T, f *fixture, id string) { f.clk.Advance(DefaultTTL) },
		},
		{
			name: "rejected before", want: ErrNotPending, wantStatus: approvalstate.Rejected,
			setup: func(t *testing.T, f *fixture, id string) {
				if err := f.svc.Reject(ctx, id, store.ChannelWeb); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "approved before", want: ErrNotPending, wantStatus: approvalstate.Approved,
			setup: func(t *testing.T, f *fixture, id string) {
				if err := f.svc.Approve(ctx, id, code(t, step0-1), store.ChannelWeb); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "code already used for another approval", want: totp.ErrReplay, wantStatus: approvalstate.Pending, codeSpent: true,
			setup: func(t *testing.T, f *fixture, id string) {
				other, _ := f.park(t, intent(99))
				if err := f.svc.Approve(ctx, other.ID, code(t, step0), store.ChannelCLI); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			a, _ := f.park(t, intent(1))
			if tt.setup != nil {
				tt.setup(t, f, a.ID)
			}
			id := a.ID
			if tt.id != nil {
				id = tt.id(a.ID)
			}
			c := code(t, step0)
			if tt.code != nil {
				c = tt.code(t)
			}
			ch := store.ChannelCLI
			if tt.channel != "" {
				ch = tt.channel
			}
			err := f.svc.Approve(ctx, id, c, ch)
			if err == nil || (tt.want != errAny && !errors.Is(err, tt.want)) {
				t.Fatalf("Approve: %v, want %v", err, tt.want)
			}
			if got := f.status(t, a.ID); got != tt.wantStatus {
				t.Errorf("status %s, want %s", got, tt.wantStatus)
			}
			// Was the right code of step0 spent? Try it on a fresh approval
			// (when the clock has not moved past it; TestExpiredDoesNotSpendCode
			// covers expiry).
			if f.clk.Now().Unix()/30 > step0+1 {
				return
			}
			fresh, _ := f.park(t, intent(7))
			err = f.svc.Approve(ctx, fresh.ID, code(t, step0), store.ChannelCLI)
			if tt.codeSpent != (err != nil) {
				t.Errorf("right code on a fresh approval: %v (spent before: %v)", err, tt.codeSpent)
			}
			if tt.codeSpent && !errors.Is(err, totp.ErrReplay) {
				t.Errorf("reused code: %v, want ErrReplay", err)
			}
		})
	}
}

// errAny in a table means "some error".
var errAny = errors.New("any error")

func TestExpiredDoesNotSpendCode(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old, _ := f.park(t, intent(1))
	f.clk.Advance(DefaultTTL - time.Second)
	fresh, _ := f.park(t, intent(2))
	f.clk.Advance(time.Second) // old expires now, exactly
	step := f.clk.Now().Unix() / 30
	c := code(t, step)
	if err := f.svc.Approve(ctx, old.ID, c, store.ChannelCLI); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if err := f.svc.Approve(ctx, fresh.ID, c, store.ChannelCLI); err != nil {
		t.Fatalf("the same code on an unexpired approval: %v", err)
	}
	got, err := f.svc.Get(ctx, old.ID)
	if err != nil || got.Status != approvalstate.Expired {
		t.Fatalf("Get of the expired one: %v %v", got, err)
	}
	if err := f.svc.Reject(ctx, old.ID, store.ChannelCLI); !errors.Is(err, ErrExpired) {
		t.Fatalf("Reject of an expired approval: %v", err)
	}
}

func TestGetExpiresLazily(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, _ := f.park(t, intent(1))
	f.clk.Advance(DefaultTTL - time.Nanosecond)
	if got, _ := f.svc.Get(ctx, a.ID); got.Status != approvalstate.Pending {
		t.Fatalf("status %s just before expiry", got.Status)
	}
	f.clk.Advance(time.Nanosecond)
	// The row is still pending in the store until someone looks.
	if got := f.status(t, a.ID); got != approvalstate.Pending {
		t.Fatalf("status %s before Get", got)
	}
	if got, _ := f.svc.Get(ctx, a.ID); got.Status != approvalstate.Expired {
		t.Fatalf("Get after expiry: %s", got.Status)
	}
	b, _ := f.park(t, intent(2))
	f.clk.Advance(DefaultTTL)
	if list, err := f.svc.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List after expiry: %v %v", list, err)
	}
	if got := f.status(t, b.ID); got != approvalstate.Expired {
		t.Fatalf("List did not expire %s", b.ID)
	}
	if _, err := f.svc.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(missing): %v", err)
	}
}

func TestReject(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, _ := f.park(t, intent(1))
	if err := f.svc.Reject(ctx, a.ID, "bogus"); err == nil {
		t.Fatal("rejected through an unknown channel")
	}
	if err := f.svc.Reject(ctx, a.ID, store.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.Get(ctx, a.ID)
	if got.Status != approvalstate.Rejected || got.Channel != store.ChannelWeb {
		t.Fatalf("%+v", got)
	}
	if err := f.svc.Reject(ctx, a.ID, store.ChannelWeb); !errors.Is(err, ErrNotPending) {
		t.Errorf("second reject: %v", err)
	}
	if err := f.svc.Approve(ctx, a.ID, code(t, step0), store.ChannelCLI); !errors.Is(err, ErrNotPending) {
		t.Errorf("approve after reject: %v", err)
	}
	if err := f.svc.Reject(ctx, "missing", store.ChannelCLI); !errors.Is(err, ErrNotFound) {
		t.Errorf("reject unknown: %v", err)
	}
	if e := f.lg.find("approval_rejected"); len(e) != 1 || e[0]["channel"] != "web" {
		t.Errorf("rejected events: %v", e)
	}
}

func TestCheckLink(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, tokA := f.park(t, intent(1))
	b, tokB := f.park(t, intent(2))
	// tokA with its last character changed: to "A", or to "Q" (another
	// value, canonically encoded) when it ends in "A" already (one run in
	// 16 it did, and the "changed" token was tokA itself).
	off := tokA[:len(tokA)-1] + "A"
	if strings.HasSuffix(tokA, "A") {
		off = tokA[:len(tokA)-1] + "Q"
	}
	tests := []struct {
		name  string
		id    string
		token string
		want  error
	}{
		{"right", a.ID, tokA, nil},
		{"right, other approval", b.ID, tokB, nil},
		{"other approval's token", a.ID, tokB, ErrBadLink},
		{"empty", a.ID, "", ErrBadLink},
		{"one character off", a.ID, off, ErrBadLink},
		{"padded", a.ID, tokA + "=", ErrBadLink},
		{"huge", a.ID, strings.Repeat("A", 1<<16), ErrBadLink},
		{"unknown id", "00000000000000000000000000000000", tokA, ErrNotFound},
	}
	bad := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.svc.CheckLink(ctx, tt.id, tt.token)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("CheckLink: %v, want %v", err, tt.want)
			}
			if err == nil && got.ID != tt.id {
				t.Fatalf("returned %s", got.ID)
			}
			if err != nil && strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Fatal("the error echoes the token")
			}
		})
		if tt.want == ErrBadLink {
			bad++
		}
	}
	events := f.lg.find("approval_bad_link")
	if len(events) != bad {
		t.Fatalf("%d bad link events, want %d", len(events), bad)
	}
	for _, e := range events {
		if e["type"] != "security" || e["approval_id"] != a.ID {
			t.Errorf("bad link event %v", e)
		}
	}
	if strings.Contains(f.lg.text(), tokA) || strings.Contains(f.lg.text(), tokB) {
		t.Error("a link token is in the audit log")
	}
}

func TestRestartKeepsPending(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, tok := f.park(t, intent(1))
	b, _ := f.park(t, intent(2))
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	// A new process: new store handle, new Service, same file.
	st := f.open(t)
	svc := f.service(t, st)
	list, err := svc.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List after restart: %v %v", list, err)
	}
	if _, err := svc.CheckLink(ctx, a.ID, tok); err != nil {
		t.Fatalf("link after restart: %v", err)
	}
	if err := svc.Approve(ctx, a.ID, code(t, step0), store.ChannelCLI); err != nil {
		t.Fatalf("Approve after restart: %v", err)
	}
	if err := svc.Reject(ctx, b.ID, store.ChannelCLI); err != nil {
		t.Fatalf("Reject after restart: %v", err)
	}
}

func TestTwoServicesSameCode(t *testing.T) {
	// Two processes (store handles, Services, Verifiers) get the same code for
	// two approvals at once: exactly one is approved.
	ctx := context.Background()
	f := newFixture(t)
	svc2 := f.service(t, f.open(t))
	for round := int64(0); round < 5; round++ {
		a, _ := f.park(t, intent(10+round))
		b, _ := f.park(t, intent(20+round))
		c := code(t, step0+round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, job := range []struct {
			svc *Service
			id  string
		}{{f.svc, a.ID}, {svc2, b.ID}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = job.svc.Approve(ctx, job.id, c, store.ChannelWeb)
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: %v / %v, want exactly one approval", round, errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, totp.ErrReplay) {
				t.Fatalf("loser: %v", err)
			}
		}
		f.clk.Advance(30 * time.Second)
	}
}

func TestWithoutVerifier(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	svc, err := New(&Config{Store: f.st, Audit: f.lg, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := svc.Park(ctx, intent(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Approve(ctx, a.ID, code(t, step0), store.ChannelCLI); !errors.Is(err, totp.ErrNotEnrolled) {
		t.Fatalf("Approve without a verifier: %v", err)
	}
	if err := svc.Reject(ctx, a.ID, store.ChannelCLI); err != nil {
		t.Fatalf("Reject without a verifier: %v", err)
	}
}

func TestNewConfig(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		cfg  *Config
		ok   bool
	}{
		{"nil", nil, false},
		{"no store", &Config{Audit: f.lg}, false},
		{"no audit", &Config{Store: f.st}, false},
		{"negative ttl", &Config{Store: f.st, Audit: f.lg, TTL: -time.Second}, false},
		{"negative max pending", &Config{Store: f.st, Audit: f.lg, MaxPending: -1}, false},
		{"minimal", &Config{Store: f.st, Audit: f.lg}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v", err)
			}
		})
	}
	svc, _ := New(&Config{Store: f.st, Audit: f.lg, Now: f.clk.Now, TTL: time.Minute})
	a, _, err := svc.Park(context.Background(), intent(1))
	if err != nil || !a.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("TTL: %v %v", a, err)
	}
}

// TestPageWrongCodesLockOnlyThatApproval: wrong codes posted on the page for
// one approval lock its link; another approval is still approved on the
// page, and the locked one in the terminal.
func TestPageWrongCodesLockOnlyThatApproval(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, _ := f.park(t, intent(1))
	b, _ := f.park(t, intent(2))
	for i := 0; i < totp.DefaultMaxFailures; i++ {
		if err := f.svc.Approve(ctx, a.ID, "000000", store.ChannelWeb); !errors.Is(err, totp.ErrWrongCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if err := f.svc.Approve(ctx, a.ID, code(t, step0-1), store.ChannelWeb); !errors.Is(err, totp.ErrLocked) {
		t.Fatalf("right code on the locked link: %v", err)
	}
	if err := f.svc.Approve(ctx, b.ID, code(t, step0), store.ChannelWeb); err != nil {
		t.Fatalf("another approval on the page: %v", err)
	}
	if err := f.svc.Approve(ctx, a.ID, code(t, step0+1), store.ChannelCLI); err != nil {
		t.Fatalf("the locked approval in the terminal: %v", err)
	}
	if f.status(t, a.ID) != approvalstate.Approved || f.status(t, b.ID) != approvalstate.Approved {
		t.Fatal("not both approved")
	}
	if n := len(f.lg.find("approval_code_refused")); n != totp.DefaultMaxFailures+1 {
		t.Fatalf("%d approval_code_refused events, want %d", n, totp.DefaultMaxFailures+1)
	}
	if n := len(f.lg.find(totp.EventLockout)); n != 1 {
		t.Fatalf("%d lockout events, want 1", n)
	}
}

// TestParkMaxPending floods Park from two processes: at most MaxPending
// approvals wait per account, the rest are refused as a security event, and
// another account still parks.
func TestParkMaxPending(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	svc2 := f.service(t, f.open(t))
	var wg sync.WaitGroup
	var mu sync.Mutex
	parked, refused := 0, 0
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, tok, err := []*Service{f.svc, svc2}[i%2].Park(ctx, intent(int64(i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && tok != "":
				parked++
			case errors.Is(err, ErrTooManyPending):
				refused++
			default:
				t.Errorf("park %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if parked != DefaultMaxPending || refused != 300-DefaultMaxPending {
		t.Fatalf("%d parked, %d refused; want %d and %d", parked, refused, DefaultMaxPending, 300-DefaultMaxPending)
	}
	if list, _ := f.svc.List(ctx); len(list) != DefaultMaxPending {
		t.Fatalf("%d pending, want %d", len(list), DefaultMaxPending)
	}
	floods := f.lg.find("approval_flood")
	if len(floods) != 300-DefaultMaxPending || floods[0]["type"] != "security" || floods[0]["from"] != alice.Hex() {
		t.Fatalf("%d approval_flood events (%v)", len(floods), floods[0])
	}
	other := intent(1)
	other.From = bob
	if _, tok, err := f.svc.Park(ctx, other); err != nil || tok == "" {
		t.Fatalf("another account: %v", err)
	}
	// A configured limit.
	g := newFixture(t)
	svc, err := New(&Config{Store: g.st, Audit: g.lg, Now: g.clk.Now, MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 3; i++ {
		_, _, err := svc.Park(ctx, intent(i))
		if (i < 2) != (err == nil) {
			t.Fatalf("park %d with MaxPending 2: %v", i, err)
		}
	}
}

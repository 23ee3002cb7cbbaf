package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: nil when ready. Its error text is shown on
// /readyz, so it names what failed and never carries a secret or a URL.
type Check func(ctx context.Context) error

// HealthConfig configures the ops HTTP endpoint.
type HealthConfig struct {
	// Addr is the listen address; only loopback hosts are accepted.
	Addr string
	// Checks are the readiness checks by name ("chain", "store", "audit", "keys", "frozen").
	Checks map[string]Check
	// Metrics is served on /metrics (nil: 404).
	Metrics *Metrics
	// Timeout bounds all checks of one /readyz. Default 3s.
	Timeout time.Duration
}

// Health serves /healthz, /readyz and /metrics.
type Health struct {
	cfg HealthConfig
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// ErrNotLoopback refuses an [ops] listen address that is not loopback.
var ErrNotLoopback = errors.New("ops: listen must be a loopback address (127.0.0.1, ::1 or localhost)")

// NewHealth binds cfg.Addr; Serve starts answering.
func NewHealth(cfg *HealthConfig) (*Health, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ops: listen: %v", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, ErrNotLoopback
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ops: listen: %w", err)
	}
	h := &Health{cfg: *cfg, ln: ln}
	if h.cfg.Timeout <= 0 {
		h.cfg.Timeout = 3 * time.Second
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	return h, nil
}

// Addr is the bound address.
func (h *Health) Addr() string { return h.ln.Addr().String() }

// Serve answers until Close.
func (h *Health) Serve() {
	h.wg.Go(func() { _ = h.srv.Serve(h.ln) })
}

// Close stops serving.
func (h *Health) Close(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	h.wg.Wait()
	return err
}

// readyz runs every check; 200 when all pass, else 503. The body is JSON:
// {"ready": bool, "checks": {"name": "ok" | "what failed"}}.
func (h *Health) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	res := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, c := range h.cfg.Checks {
		wg.Go(func() {
			msg := "ok"
			if err := c(ctx); err != nil {
				msg = err.Error()
			}
			mu.Lock()
			res[name] = msg
			mu.Unlock()
		})
	}
	wg.Wait()
	ready := true
	for _, v := range res {
		if v != "ok" {
			ready = false
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "checks": res})
}

// CachedCheck runs c at most once per ttl: a result younger than ttl (by
// now; nil means time.Now) is reused, so that a scraper polling /readyz
// cannot drive a check's cost (a store write and its fsync) at its own rate.
// Concurrent callers wait for one run.
func CachedCheck(c Check, ttl time.Duration, now func() time.Time) Check {
	if now == nil {
		now = time.Now
	}
	sem := make(chan struct{}, 1)
	var at time.Time
	var last error
	ran := false
	return func(ctx context.Context) error {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return errors.New("check timed out")
		}
		defer func() { <-sem }()
		if t := now(); ran && t.Sub(at) < ttl && !t.Before(at) {
			return last
		}
		last, at, ran = c(ctx), now(), true
		return last
	}
}

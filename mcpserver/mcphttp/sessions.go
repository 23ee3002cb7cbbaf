package mcphttp

import (
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionIDHeader is the streamable HTTP transport's session header.
const sessionIDHeader = "Mcp-Session-Id"

// sessionLimits bounds the live MCP sessions, per token identity and in
// all. A POST without a session id opens a session: when its token already
// holds perToken live sessions, the oldest of them is closed first (a
// client that restarts without closing its sessions is never locked out,
// and one token never holds more); when the server holds total, it is
// refused (429). Sessions are known from the Mcp-Session-Id of the
// responses that opened them; one the go-sdk closed (DELETE, idle timeout)
// is forgotten when the server no longer lists it.
type sessionLimits struct {
	perToken, total int
	server          *mcp.Server

	mu      sync.Mutex
	seq     uint64
	owner   map[string]sessionOwner // live session id → who opened it, when
	opening map[string]int          // token identity → sessions being opened
}

// sessionOwner is the token identity that opened a session, and the order
// in which it was opened.
type sessionOwner struct {
	user string
	seq  uint64
}

func newSessionLimits(server *mcp.Server, perToken, total int) *sessionLimits {
	return &sessionLimits{perToken: perToken, total: total, server: server, owner: map[string]sessionOwner{}, opening: map[string]int{}}
}

// reserve counts one session being opened by user, closing user's oldest
// session when user holds perToken already, or refuses when the server
// holds total; the caller then calls opened with what it got.
func (l *sessionLimits) reserve(user string) bool {
	live := map[string]*mcp.ServerSession{}
	for ss := range l.server.Sessions() {
		live[ss.ID()] = ss
	}
	l.mu.Lock()
	mine, oldest := l.opening[user], ""
	for id, o := range l.owner {
		if live[id] == nil {
			delete(l.owner, id)
			continue
		}
		if o.user == user {
			mine++
			if oldest == "" || o.seq < l.owner[oldest].seq {
				oldest = id
			}
		}
	}
	var evict *mcp.ServerSession
	if mine >= l.perToken && oldest != "" {
		evict = live[oldest]
		delete(l.owner, oldest)
		mine--
	}
	all := len(l.owner)
	for _, n := range l.opening {
		all += n
	}
	ok := mine < l.perToken && all < l.total
	if ok {
		l.opening[user]++
	}
	l.mu.Unlock()
	if evict != nil {
		_ = evict.Close()
	}
	return ok
}

// opened ends a reservation of user: id is the session the request opened
// ("" when none).
func (l *sessionLimits) opened(user, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opening[user]--; l.opening[user] <= 0 {
		delete(l.opening, user)
	}
	if id != "" {
		l.seq++
		l.owner[id] = sessionOwner{user: user, seq: l.seq}
	}
}

// limitSessions makes room for, or refuses (429), a request that would
// open a session beyond the bounds, and records the sessions opened.
func (h *Handler) limitSessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get(sessionIDHeader) != "" {
			next.ServeHTTP(w, r)
			return
		}
		var user string
		if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
			user = ti.UserID
		}
		if !h.sessions.reserve(user) {
			w.Header().Set("Retry-After", "60")
			http.Error(w, "too many sessions: close one (DELETE) or let an idle one time out", http.StatusTooManyRequests)
			return
		}
		defer func() { h.sessions.opened(user, w.Header().Get(sessionIDHeader)) }()
		next.ServeHTTP(w, r)
	})
}

package store

import (
	"context"
	"database/sql"
	"sync"
)

// ChangeMark tells whether the database may have changed between two
// moments: two equal marks (==) mean that no connection, of this process or
// of another sharing the file, committed anything in between. Different
// marks mean only that something may have changed.
//
// A mark is SQLite's PRAGMA data_version as seen by one connection the Store
// keeps for this alone and never writes on: SQLite changes it on that
// connection iff another connection committed (the same check by which it
// decides whether its page cache is still valid). Values read on different
// connections are not comparable, so the mark carries which one it was read
// on; a reconnect never yields a mark equal to an earlier one.
type ChangeMark struct {
	conn    uint64
	version int64
}

// marker is the Store's dedicated data_version connection, used by one
// goroutine (run): SQLite's code needs a deep stack, and a caller on a new
// goroutine (each MCP request has its own) would grow its stack on every
// call, which cost as much as the query itself.
type marker struct {
	mu      sync.Mutex // guards started, closed and the start of run
	started bool
	closed  bool
	reqs    chan markReq
	stop    chan struct{}
	done    chan struct{}

	// Only run uses these.
	conn *sql.Conn
	stmt *sql.Stmt
	// gen counts the connections opened for marks; zero is never used, so
	// that the zero ChangeMark equals no mark that was read.
	gen uint64
}

type markReq struct {
	ctx context.Context
	out chan<- markRes
}

type markRes struct {
	mark ChangeMark
	err  error
}

var errMarkClosed = wrapDBErr("read data version", sql.ErrConnDone)

// ChangeMark returns the database's current ChangeMark. A caller that read a
// mark before reading some state, and later reads the same mark again, knows
// that the state it read is still the database's.
func (s *Store) ChangeMark(ctx context.Context) (ChangeMark, error) {
	m := &s.mark
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ChangeMark{}, errMarkClosed
	}
	if !m.started {
		m.started = true
		m.reqs, m.stop, m.done = make(chan markReq), make(chan struct{}), make(chan struct{})
		go s.runMark()
	}
	m.mu.Unlock()
	out := make(chan markRes, 1)
	select {
	case m.reqs <- markReq{ctx: ctx, out: out}:
	case <-m.stop:
		return ChangeMark{}, errMarkClosed
	case <-ctx.Done():
		return ChangeMark{}, wrapDBErr("read data version", ctx.Err())
	}
	r := <-out
	return r.mark, r.err
}

// runMark answers ChangeMark's requests until the Store closes.
func (s *Store) runMark() {
	m := &s.mark
	defer close(m.done)
	defer m.drop()
	for {
		select {
		case r := <-m.reqs:
			mk, err := s.readMark(r.ctx)
			r.out <- markRes{mk, err}
		case <-m.stop:
			return
		}
	}
}

// readMark reads data_version on the mark connection (runMark only).
func (s *Store) readMark(ctx context.Context) (ChangeMark, error) {
	m := &s.mark
	if m.conn == nil {
		// Not bound to the caller's context: the connection outlives the call.
		c, err := s.db.Conn(context.WithoutCancel(ctx))
		if err != nil {
			return ChangeMark{}, wrapDBErr("read data version", err)
		}
		st, err := c.PrepareContext(context.WithoutCancel(ctx), "PRAGMA data_version")
		if err != nil {
			c.Close()
			return ChangeMark{}, wrapDBErr("read data version", err)
		}
		m.conn, m.stmt = c, st
		m.gen++
	}
	var v int64
	if err := m.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		// Drop the connection: a later mark is read on a new one and so
		// differs from every mark read on this one.
		m.drop()
		return ChangeMark{}, wrapDBErr("read data version", err)
	}
	return ChangeMark{conn: m.gen, version: v}, nil
}

// drop closes the mark connection (runMark only).
func (m *marker) drop() {
	if m.stmt != nil {
		m.stmt.Close()
	}
	if m.conn != nil {
		m.conn.Close()
	}
	m.conn, m.stmt = nil, nil
}

// closeMark stops runMark, which closes the mark connection, for good
// (Close).
func (s *Store) closeMark() {
	m := &s.mark
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	if m.started {
		close(m.stop)
		<-m.done
	}
}

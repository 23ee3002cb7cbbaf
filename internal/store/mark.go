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

// marker is the Store's dedicated data_version connection.
type marker struct {
	mu   sync.Mutex
	conn *sql.Conn
	stmt *sql.Stmt
	// gen counts the connections opened for marks; zero is never used, so
	// that the zero ChangeMark equals no mark that was read.
	gen    uint64
	closed bool
}

// ChangeMark returns the database's current ChangeMark. A caller that read a mark
// before reading some state, and later reads the same mark again, knows that
// the state it read is still the database's.
func (s *Store) ChangeMark(ctx context.Context) (ChangeMark, error) {
	m := &s.mark
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ChangeMark{}, wrapDBErr("read data version", sql.ErrConnDone)
	}
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
		m.dropLocked()
		return ChangeMark{}, wrapDBErr("read data version", err)
	}
	return ChangeMark{conn: m.gen, version: v}, nil
}

// dropLocked closes the mark connection; the caller holds m.mu.
func (m *marker) dropLocked() {
	if m.stmt != nil {
		m.stmt.Close()
	}
	if m.conn != nil {
		m.conn.Close()
	}
	m.conn, m.stmt = nil, nil
}

// closeMark closes the mark connection for good (Close).
func (s *Store) closeMark() {
	m := &s.mark
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropLocked()
	m.closed = true
}

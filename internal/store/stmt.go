package store

import (
	"context"
	"database/sql"
)

// The statements of the hot paths (a reservation, a signature record, the
// group commit's savepoints) are prepared once and reused: database/sql keeps
// one prepared copy per pooled connection, and the driver reuses it (reset,
// not re-parsed). Parsing the SQL was a tenth of the CPU of a transfer.

// prepared returns the cached statement for query, preparing it on first
// use; nil when it cannot be prepared (the caller then runs query directly,
// which reports the error).
func (s *Store) prepared(ctx context.Context, query string) *sql.Stmt {
	s.smu.Lock()
	defer s.smu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	// Not bound to the caller's context: the statement outlives the call.
	st, err := s.db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	s.stmts[query] = st
	return st
}

// on returns the cached statement for query bound to q (a *sql.Tx or the
// *sql.DB), or nil.
func (s *Store) on(ctx context.Context, q any, query string) *sql.Stmt {
	st := s.prepared(ctx, query)
	if st == nil {
		return nil
	}
	if tx, ok := q.(*sql.Tx); ok {
		return tx.StmtContext(ctx, st)
	}
	if _, ok := q.(*sql.DB); ok {
		return st
	}
	return nil
}

// queryRow is q.QueryRowContext through the statement cache.
func (s *Store) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	if st := s.on(ctx, q, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.QueryRowContext(ctx, query, args...)
}

// queryRows is q.QueryContext through the statement cache.
func (s *Store) queryRows(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	if st := s.on(ctx, q, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.QueryContext(ctx, query, args...)
}

// exec is tx.ExecContext through the statement cache.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.on(ctx, tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// closeStmts closes the cached statements.
func (s *Store) closeStmts() {
	s.smu.Lock()
	defer s.smu.Unlock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
}

package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)}
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

// testKey returns the state key the tests open stores with.
func testKey() []byte { return bytes.Repeat([]byte{0x5a}, KeyLen) }

// withKey returns a copy of opts (nil: the defaults) with the test state key,
// unless opts sets a key of its own.
func withKey(opts *Options) *Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Key == nil {
		o.Key = testKey()
	}
	return &o
}

// openTest opens a store with the test state key in a fresh directory and
// closes it when the test ends.
func openTest(t testing.TB, opts *Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(context.Background(), path, withKey(opts))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func version(t *testing.T, s *Store) int {
	t.Helper()
	v, err := schemaVersion(context.Background(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tableExists(t *testing.T, s *Store, name string) bool {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		dir   string // subdirectory to create the file in
		opens int    // how many times the same file is opened in a row
		touch bool   // the file exists (empty) before the first Open
	}{
		{name: "new file", opens: 1},
		{name: "path with URI characters", dir: "a b?c#d%20&_txlock=x", opens: 2},
		{name: "existing empty file", opens: 1, touch: true},
		{name: "reopen is idempotent", opens: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.dir)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "state.db")
			if tt.touch {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < tt.opens; i++ {
				s, err := Open(ctx, path, nil)
				if err != nil {
					t.Fatalf("Open #%d: %v", i+1, err)
				}
				if got := version(t, s); got != len(migrations) {
					t.Errorf("Open #%d: schema version %d, want %d", i+1, got, len(migrations))
				}
				var rows int
				if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil {
					t.Fatal(err)
				}
				if rows != len(migrations) {
					t.Errorf("Open #%d: %d schema_migrations rows, want %d", i+1, rows, len(migrations))
				}
				if !tableExists(t, s, "transfers") {
					t.Errorf("Open #%d: no transfers table", i+1)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			// SQLite wrote to the file at path (after Close, the WAL is
			// checkpointed into it) and to nothing else.
			if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
				t.Errorf("database not at the given path: %v", err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), "state.db") {
					t.Errorf("stray file %q", e.Name())
				}
			}
		})
	}
}

func TestOpenSettings(t *testing.T) {
	s, path := openTest(t, nil)
	ctx := context.Background()
	// Several connections at once, so that the pragmas are seen on more than
	// the one connection Open checked.
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for _, p := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "2"},
			{"foreign_keys", "1"},
			{"busy_timeout", "5000"},
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("conn %d: PRAGMA %s = %s, want %s", i, p.pragma, got, p.want)
			}
		}
	}
	// Write something so the WAL and shared-memory files exist.
	if _, _, err := s.CreateTransfer(ctx, testTransfer()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(f), mode)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{name: "empty path", path: ""},
		{name: "missing directory", path: filepath.Join(dir, "nope", "state.db")},
		{name: "path is a directory", path: dir},
		{name: "not an sqlite file", path: garbage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestOpenRefusesFutureSchema(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		future int // versions beyond the code's
	}{
		{name: "one version ahead", future: 1},
		{name: "many versions ahead", future: 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTest(t, nil)
			if _, _, err := s.CreateTransfer(ctx, testTransfer()); err != nil {
				t.Fatal(err)
			}
			want := len(migrations) + tt.future
			if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, want); err != nil {
				t.Fatal(err)
			}
			s.Close()

			s2, err := Open(ctx, path, nil)
			if err == nil {
				s2.Close()
				t.Fatal("Open accepted a database from the future")
			}
			var ve *SchemaVersionError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *SchemaVersionError", err, err)
			}
			if ve.Database != want || ve.Known != len(migrations) {
				t.Errorf("got %+v, want Database %d Known %d", ve, want, len(migrations))
			}
			if !strings.Contains(err.Error(), "newer than this program knows") {
				t.Errorf("unclear error: %v", err)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	withSteps := func(extra ...string) []string {
		return append(append([]string(nil), migrations...), extra...)
	}
	tests := []struct {
		name        string
		steps       []string
		wantErr     bool
		wantVersion int
		wantTables  []string // must exist afterwards
		noTables    []string // must not exist afterwards
	}{
		{
			name:        "appended step is applied",
			steps:       withSteps(`CREATE TABLE extra_step (id TEXT PRIMARY KEY) STRICT`),
			wantVersion: len(migrations) + 1,
			wantTables:  []string{"extra_step"},
		},
		{
			name: "several steps in order, multi-statement",
			steps: withSteps(
				`CREATE TABLE a (x INTEGER) STRICT; CREATE TABLE b (y INTEGER) STRICT`,
				`ALTER TABLE a ADD COLUMN z INTEGER; DROP TABLE b`,
			),
			wantVersion: len(migrations) + 2,
			wantTables:  []string{"a"},
			noTables:    []string{"b"},
		},
		{
			name:        "failing step rolls back entirely",
			steps:       withSteps(`CREATE TABLE good (x INTEGER); CREATE TABLE bad (`),
			wantErr:     true,
			wantVersion: len(migrations),
			noTables:    []string{"good"},
		},
		{
			name:        "failure stops later steps",
			steps:       withSteps(`CREATE TABLE ok1 (x INTEGER)`, `SELECT * FROM missing_table`, `CREATE TABLE ok3 (x INTEGER)`),
			wantErr:     true,
			wantVersion: len(migrations) + 1,
			wantTables:  []string{"ok1"},
			noTables:    []string{"ok3"},
		},
		{
			name:        "fewer steps than the database has",
			steps:       migrations[:len(migrations)-1],
			wantErr:     true,
			wantVersion: len(migrations),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			err := s.migrate(ctx, tt.steps)
			if (err != nil) != tt.wantErr {
				t.Fatalf("migrate: err %v, wantErr %v", err, tt.wantErr)
			}
			if got := version(t, s); got != tt.wantVersion {
				t.Errorf("version %d, want %d", got, tt.wantVersion)
			}
			for _, name := range tt.wantTables {
				if !tableExists(t, s, name) {
					t.Errorf("table %s missing", name)
				}
			}
			for _, name := range tt.noTables {
				if tableExists(t, s, name) {
					t.Errorf("table %s exists", name)
				}
			}
			if !tt.wantErr {
				// Idempotent: running the same steps again changes nothing.
				if err := s.migrate(ctx, tt.steps); err != nil {
					t.Fatalf("second migrate: %v", err)
				}
				if got := version(t, s); got != tt.wantVersion {
					t.Errorf("version after second migrate %d, want %d", got, tt.wantVersion)
				}
			}
		})
	}
}

// TestQueriesUseIndexes: every named transfer query searches an index; none
// walks the whole ledger (a Ledger transaction runs several of them on every
// verdict, under the write lock), and none sorts in a temporary b-tree but
// qSince, which sorts only the changes it found.
func TestQueriesUseIndexes(t *testing.T) {
	s, _ := openTest(t, nil)
	tests := []struct {
		name    string
		query   string
		args    []any
		indexes string // comma-separated: each is used
		walks   bool   // may walk the whole table in index order
		sorts   bool   // may sort its result in a temporary b-tree
	}{
		{name: "by id", query: qByID, args: []any{"x"}, indexes: "sqlite_autoindex_transfers_1"},
		{name: "by key", query: qByKey, args: []any{"k"}, indexes: "transfers_idempotency_key"},
		{name: "by hash", query: qByHash, args: []any{"0x00"}, indexes: "transfers_tx_hash"},
		{name: "by hash, failed", query: qByHashFailed, args: []any{"0x00"}, indexes: "transfers_tx_hash_failed"},
		{name: "by approval", query: qByApproval, args: []any{"a"}, indexes: "transfers_approval"},
		{name: "by seq", query: qBySeq, args: []any{int64(1)}, indexes: "transfers_seq"},
		// The partial indexes hold only unfinished and unsettled rows:
		// scanning them is cheap.
		{name: "unfinished", query: qUnfinished, indexes: "transfers_reserved,transfers_unsettled", walks: true, sorts: true},
		{name: "unsettled", query: qUnsettled, args: []any{int64(0), 10}, indexes: "transfers_unsettled"},
		{name: "abandoned", query: qAbandoned, args: []any{int64(0), 10}, indexes: "transfers_reserved"},
		{name: "has paid", query: qPaid, args: []any{"0x00", "0x01"}, indexes: "transfers_from_to"},
		{name: "changes since", query: qSince, args: []any{int64(0), int64(0)}, indexes: "transfers_seq,transfers_version", sorts: true},
		{name: "window", query: qWindow, args: []any{int64(1)}, indexes: "transfers_seq"},
		{name: "live at nonce", query: qLiveAtNonce, args: []any{int64(1), "0x00", int64(0)}, indexes: "transfers_nonce"},
		{name: "nonces", query: qNonces, args: []any{int64(1), "0x00", int64(0)}, indexes: "transfers_nonce"},
		{name: "ledger end", query: qLedgerEnd, indexes: "transfers_seq,transfers_version"},
		{name: "first since", query: qFirstSince, args: []any{int64(0)}, indexes: "transfers_created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			joined := queryPlan(t, s, tt.query, tt.args...)
			for _, index := range strings.Split(tt.indexes, ",") {
				if !strings.Contains(joined, "INDEX "+index) {
					t.Errorf("plan %q does not use index %s", joined, index)
				}
			}
			if !tt.walks && strings.Contains(joined, "SCAN transfers") {
				t.Errorf("plan %q walks the whole table", joined)
			}
			if !tt.sorts && strings.Contains(joined, "USE TEMP B-TREE") {
				t.Errorf("plan %q sorts in a temporary b-tree", joined)
			}
		})
	}
}

// queryPlan returns the steps of query's plan, joined with "; ".
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

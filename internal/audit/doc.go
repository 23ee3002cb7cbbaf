// Package audit is walletmcp's append-only, hash-chained, tamper-evident audit
// log, and its verifier.
//
// # Format
//
// The log is a file of JSON lines, one record per line, each ending in "\n":
//
//	{"seq":1,"time":"2025-01-02T03:04:05.123456789Z","type":"tool_call","data":{...},"prev":"<64 hex>","hash":"<64 hex>"}
//
// seq starts at 1 and increases by one. time is RFC 3339 with nanoseconds in
// UTC: when the writer's Append or Enqueue queued the record. With several
// writers the times may be slightly out of order (each writer's own records
// are in order); seq and prev define the order of the log. type is 1 to
// MaxTypeLen characters from [A-Za-z0-9_.:-]. data is the caller's fields
// encoded by encoding/json: a compact object of at most MaxDataSize bytes.
// prev is the hash of the previous record (64 zeros for the first). hash is
// the lowercase hex SHA-256 of the line's exact bytes before `,"hash":`, that
// is of
//
//	{"seq":1,"time":"...","type":"...","data":{...},"prev":"..."
//
// The fields appear in exactly this order, with no spaces between them and no
// escapes in seq, time, type, prev or hash; a reader accepts nothing else, so
// a record has one byte representation and the hash covers all of it. Anyone
// can recompute the chain with a JSON parser and sha256sum.
//
// Next to the log, path+HeadSuffix (the head file) holds
//
//	{"seq":N,"hash":"<64 hex>","mac":"<64 hex>"}
//
// for the last durable record, padded with spaces to 256 bytes (a newline
// last) and rewritten in place after every commit. mac is the lowercase hex
// HMAC-SHA256, keyed with the head key (Options.HeadKey), of the file's bytes
// before `,"mac":`, that is of {"seq":N,"hash":"<64 hex>". A Log without the
// key writes no mac, as versions before the key did (in 128 bytes).
//
// # Writing
//
// Several writers, in one process or several, may append to one log at the
// same time: the long-running server and short CLI commands do. They share
// it through an advisory lock (flock) on the log file, which a writer holds
// only while it commits.
//
// Append returns only once its record is written and fsynced and the head file
// rewritten and fsynced. Enqueue queues a record the same way but does not
// wait. Each Log has a single writer goroutine that group-commits: it takes
// every record waiting, locks the file, reads and verifies what other writers
// appended since it last saw the log, gives its records the next seqs and
// chains them on, writes them with one write, fsyncs the log once, rewrites
// the head (one HMAC per commit) and fsyncs it, unlocks, then releases all
// the callers together.
// Stats reports the ratio. If a write or fsync fails, or what another writer
// appended does not verify, the log stops: every later Append returns the
// error, so a caller that requires auditing (walletmcp does: no signature
// without its record) fails closed.
//
// # The head key
//
// A Log opened with Options.HeadKey checks the head file's MAC whenever it
// reads the head (in Open, and in a commit that finds other writers'
// records), and writes every head with its MAC. Every writer of a keyed log
// needs the key: a Log without it refuses to write one (ErrKeyRequired),
// since it would strip the MAC. The first keyed writer of a log whose head
// has no MAC (a new log, or one an earlier version wrote) upgrades it in
// Open, under the lock: it rewrites the head with a MAC, then appends a
// TypeSecurity record with "event":EventHeadKeyed and "after_seq", the last
// record written before. In that order, a head without a MAC once that
// record is in the chain is never a crash's leftover, only a rewrite, and
// Open and Verify refuse it with or without the key.
//
// # Verifying and recovery
//
// Verify and Open read every record and report the first bad one as a
// *TamperError: KindEdited (hash mismatch), KindDeleted (seq gap, or prev not
// the previous hash), KindReordered (seq going backwards, or a missing seq
// found later), KindMalformed (not a canonical record line), KindTruncated
// (the log ends before the record the head file names, or holds another hash
// there; a partial last line; a missing head file next to a non-empty log; a
// head whose MAC does not verify, or without a MAC after an EventHeadKeyed
// record; with Options.MustExist, a missing or empty log).
// A log ahead of its head file is intact: the head is written after the log,
// so it lags by one commit after a crash.
//
// Open with the head key starts from a checkpoint rather than the first
// record: the file path+CheckpointSuffix names the last record a keyed Log
// verified or wrote (its seq, hash and offsets), MAC'd with the head key,
// and is rewritten at Open, at Close and every few thousand records. Open
// checks the checkpoint's MAC and that the log still holds that intact
// record at those offsets, then verifies only the records after it; any
// mismatch (a checkpoint without a valid MAC, a record moved, removed or
// edited at the checkpoint) makes it verify the whole chain instead. So
// start-up does not grow with the log's history, and an edit that keeps
// every length before the checkpoint is found by Verify and VerifyWithKey
// (`walletmcp audit verify`), which always read every record, not by Open.
//
// Open refuses a tampered log. Its one repair is crash recovery: a last line
// without its newline, after a chain that verifies against the head file, was
// never acknowledged (acknowledgement waits for the head), so Open cuts it off
// and records the cut as a TypeSecurity record whose data has
// "event":EventRepairedPartialTail with the removed length and SHA-256.
// A running Log that finds such a line when it catches up before a commit
// does the same. Both hold the exclusive lock while they read and cut, and a
// live writer holds it for its whole commit, so the line they cut is a crashed
// writer's, never one still being written. Verify takes the lock shared to
// read the head and the log's size, so it too never sees a commit half done.
//
// # Security model
//
// The log makes edits evident; it does not make them impossible. Changing,
// removing, reordering or inserting a record, or deleting the head file is
// detected by Verify and makes Open fail, so the server does not start on a
// tampered log; a running Log checks every record other writers append
// before chaining onto it, and stops (a *TamperError, returned by every later
// Append) at the first that does not verify, or if the log shrinks or either
// file is removed or replaced under it. It does not re-read what it has
// already verified: changes there are found by the next Open or Verify.
//
// Cutting acknowledged records off the end and rewriting the head file to
// match is detected by VerifyWithKey and by Open with the head key: only a
// holder of the key can write a head that names an earlier record
// (walletmcp derives the key from the home passphrase, which the attacker
// does not have). Without the key, Verify catches such a cut only when the
// rewritten head has no MAC after an EventHeadKeyed record; Summary.HeadMAC
// says what it could not check.
//
// The key does not make the log immune to everything:
//   - A rollback of both files to an older consistent copy (the log cut back
//     to the length it had when a copy of the head file was taken, and that
//     copy put back, or both restored from a backup) is not detectable by a
//     key alone: the older head is genuine, and its MAC verifies. Anyone
//     who could read the head file once can keep such a copy.
//   - In a log upgraded from an earlier version, the records up to the
//     EventHeadKeyed record are protected by their chain only: cutting back
//     to before that record and writing a head without a MAC looks like a
//     log never keyed (Summary.HeadMAC HeadMACAbsent, and the next keyed
//     Open upgrades it again).
//   - Removing both files: Open creates a new log unless Options.MustExist
//     says one must already be there.
//   - Whoever holds the key (every writer) can rewrite the whole chain from
//     some point on and sign a matching head: the hashes make that a
//     complete rewrite, not a quiet edit.
//
// All of these are caught by comparing with a copy of Log.Head (or
// Summary.LastHash) kept where the attacker cannot write (a ticket, a chat
// message, another host). Records that were never acknowledged may be lost in
// a crash; acknowledged records are not.
// Enqueue acknowledges nothing: a record it queued is lost if the process
// dies before the next commit, so use Append for anything that must be on
// disk before the caller acts (a verdict, a signature, a broadcast).
//
// The lock is advisory: it orders writers that use this package, and keeps
// nothing else out. On platforms without flock it is a no-op, and only one Log
// may write a log at a time there. Every writer can append any record, so
// a record says what the writer that had the files claimed, not which process
// wrote it; give the files to one user (they are created mode 0600) and run
// every writer as that user. Each keyed Log holds a copy of the head key
// until Close wipes it.
//
// The log is plain text, readable by whoever can read the file (owner only).
// Callers must never put secrets in fields: no private keys, mnemonics,
// seeds, passphrases, PINs, TOTP secrets or codes, nor raw input that may
// contain them. Record what was decided and about what (addresses,
// amounts, digests, verdicts, reasons), never the credentials that decided it.
// Every record is bounded (MaxDataSize), and a record that is too large is
// refused whole.
package audit

// Package pgaudit keeps Bulwark's audit chains in PostgreSQL, so that
// several nodes append to them at once: Backend is an audit.Backend whose
// stores are audit.SharedStores.
//
// # Tables
//
// New creates, if they are missing, four tables (under a transaction
// advisory lock, so that nodes starting together do not race):
//
//	audit_chains       (chain PRIMARY KEY)             the chains that exist
//	audit_records      (chain, seq PRIMARY KEY, line)  each record's stored form
//	audit_checkpoints  (chain, n PRIMARY KEY, line)    each signed checkpoint's
//	audit_signing_key  (id = 1, public, sealed, ...)   the checkpoint signing key
//
// A record is kept as the canonical JSON line that audit.EncodeRecord
// writes, as the file store keeps it: audit.DecodeRecord refuses any other
// form, so a change to any byte of a row is found by verification, and
// the line holds no NUL byte (PostgreSQL text cannot). The primary key
// (chain, seq) is the index Read starts from, and refuses a second record
// with the same number, so two writers can never fork a chain even if
// the lock between them failed.
//
// # The lock between writers
//
// Store.Lock takes a session advisory lock, keyed by the chain, on a
// connection it holds from the pool until Unlock; the writer's appends
// and checkpoints go through that connection, each in a transaction that
// has committed when Append returns (with synchronous_commit raised to on
// if the server has it off). PostgreSQL releases a session lock when its
// connection ends, so a node that dies while holding it frees it: at
// once when its process exits (the kernel closes the socket), and within
// the stall timeout (30 s) when the machine vanishes without closing it,
// since while it holds the lock the session runs with
// idle_session_timeout and idle_in_transaction_session_timeout set, and
// PostgreSQL ends a session that waits that long for its client. The lock
// wait itself is bounded (10 s): a writer that cannot have the lock fails
// that append with an error, and its connection, which might have been
// granted the lock as the wait ended, is closed rather than returned to
// the pool. This needs PostgreSQL 14 or later, reached directly or
// through a pooler in session mode (a pooler in transaction mode, such as
// PgBouncer's, would hand a session lock to whoever gets the connection
// next). A writer holds one connection while it appends, and needs no
// second one.
//
// # The signing key
//
// Every node must sign checkpoints with the same Ed25519 key, or a
// verifier would need to know every node's key and checkpoints would have
// to say which key signed. The simpler design is kept: SigningKey stores
// one key in audit_signing_key, its private half sealed with the master
// key (secret.Keyring, as the stores seal their data keys), and the first
// node to start creates it (an insert that only one node wins; the others
// load the winner's). Whoever can write the database but lacks the master
// key cannot read the key, nor put one of theirs in its place: a sealed
// value opens only with the master key, and the public key stored beside
// it must be the one the sealed key derives. So the key need not be kept
// apart from the log, as the file store's key file is. The same key
// keys each record's MAC (package audit, mac.go); a key made since
// records have MACs is sealed with a mark after its seed that every
// record must have one, which RewrapSigningKey keeps. VerifyKey gives
// `bulwark audit verify` the key, checked the same way;
// StoredPublicKey reads the public key without the master key, for an
// auditor who compares it with a copy kept elsewhere.
package pgaudit

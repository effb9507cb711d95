// Package postgres is Bulwark's store on PostgreSQL (through pgx and its
// pool), for installations of several nodes sharing one database. It keeps
// what package sqlite keeps, in the same tables with the same columns
// (see Tables), sealed the same way: the same per-tenant data keys
// wrapped by the same master keys, the same associated data per record
// (internal/sealing), so sealed values copied verbatim from one backend
// open in the other with the same master key. Both pass one conformance
// suite (internal/storetest): same error kinds, same ordering, NotFound
// for another tenant's records, the same Conflict cases.
//
// How it differs from the SQLite store:
//
//   - Master keys. Open refuses to run without one and never makes one:
//     every node must use the same (BULWARK_MASTER_KEY or its file). A
//     key that does not open the stored key checks is an Invalid error at
//     Open, not corrupted data. Key checks are recorded, and checked again,
//     under an exclusive advisory lock, so of nodes starting together on a
//     new database with different keys only one key is accepted. There is
//     no key file to rewrite: to rotate, the operator adds the new version
//     to every node's keys, restarts them, and runs RotateMaster, which
//     re-wraps every data key in one transaction holding that lock.
//   - Migrations (migrations/NNNN_*.sql, embedded) run at Open while the
//     session holds pg_advisory_lock, so nodes that start at once apply
//     each migration once; SchemaVersion tells what a database is at,
//     LatestSchemaVersion what this build knows, and a database newer than
//     the build is refused.
//   - Concurrency. SQLite has one writer; here transactions run at once,
//     so a task's row is locked (SELECT ... FOR UPDATE) while its status
//     or events change, and a unique violation between nodes racing to
//     create the same tenant, task, event or user is the same Conflict as
//     the check before it.
//   - Pool and timeouts. Config.MaxConns bounds the pool (default 10 per
//     node; the server's max_connections must cover every node's pool and
//     whatever else uses Pool), and Config.StatementTimeout (default 30s)
//     is set as the session's statement_timeout, so a stuck statement
//     fails rather than holding a connection. Pool gives the pool to the
//     parts of Bulwark that keep their own tables here (the job queue,
//     shared counters).
//   - Events from any node. AppendEvent notifies EventsChannel
//     (pg_notify, payload EventsPayload: "TENANTID:TASKID:SEQ") in the
//     transaction that stores the event, so a node streaming a task that
//     another node runs learns of each event once it is committed, and of
//     none that was refused.
//   - The audit signing key. When audit/pgaudit keeps its signing key in
//     this database, sealed with the master key, RetireMaster refuses to
//     retire the version that still seals it. The store reads only that
//     key's master_version and imports nothing of the audit packages.
//
// Text columns collate "C", so that listings sort by bytes as in SQLite.
// Times are Unix nanoseconds in bigint columns, as in SQLite.
package postgres

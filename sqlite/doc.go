// Package sqlite is Bulwark's embedded store: tenants, tasks and their
// events, secrets and the tenants' data keys in one SQLite file
// (modernc.org/sqlite, pure Go), with task contents, events and secret
// values sealed with each tenant's data key. It implements bulwark.Store.
//
// # What is encrypted at rest
//
// Sealed (XChaCha20-Poly1305 with the tenant's data key, bound to tenant,
// kind and record id, see secret.Seal): secret values; task inputs and
// final answers; every stored event, whole (model text, tool calls and
// their arguments, tool outputs, messages from people, errors); schedule
// inputs. Data keys
// are stored only wrapped by the master key, which is never stored in the
// database.
//
// In the clear, so that they can be indexed and listed: tenant ids and
// names; task ids, status, model, limits, finish reason, schedule and
// dates; schedule specs, time zones, owners, counters, skip reasons and
// run times (the scheduler finds and claims due ticks by them); event
// type, seq and time; secret names and dates; master key versions.
//
// The files of server tasks (uploaded by people or written by the agent)
// are artifacts here once a task's run stops: path and digest sealed
// together, content sealed bound to tenant, task and path; size and date
// in the clear, for quotas. Their ids are derived from task and path.
//
// Not in this store: the workspace folder of `bulwark run` is the user's
// own folder, and its files stay as the agent wrote them, in the clear.
// While a server task is queued or running, its workspace folder in the
// data folder is in the clear too, because the agent's tools and the
// sandbox work on it; the runtime seals it into the store and removes it
// when the run stops (see package runner).
//
// # Durability
//
// The database runs in WAL mode with synchronous=NORMAL: a committed write
// survives a crash of the process; the last commits before a power failure
// may be lost. AppendEvent commits before it returns, so a reader that
// streams stored events never sees one that is later rolled back.
package sqlite

//! # dr-postgres: self-managed PostgreSQL streaming replication, as a `dr` plugin
//!
//! A worked example of the third way to use `dr`: a provider crate a platform
//! team writes for its own systems, outside the `dr` workspace's providers, and
//! its own `dr` binary (`dr-with-postgres`, three lines over
//! [`dr_cli::main_with`]). It is the `provider = "postgres"` of a plan, one server
//! per resource, acting as a store, a replicator and a probe:
//!
//! - [`PostgresStore`] ([`DataStore`](dr_core::DataStore)): role from
//!   `pg_is_in_recovery()`; `promote` = `pg_promote(wait => true)`; `fence` makes
//!   the old primary refuse writes (below).
//! - [`PostgresReplicator`] ([`Replicator`](dr_core::Replicator)): the link from
//!   `peer` (the primary) into `url` (its standby): state, lag, `stop`; after a
//!   failover, what a failback would discard on the old primary (`divergence`)
//!   and, with `reverse_command`, `reverse` (below).
//! - [`PostgresProbe`] ([`HealthProbe`](dr_core::HealthProbe)): a query, plus the
//!   expected role.
//!
//! ```toml
//! [resources.db_west]
//! provider = "postgres"
//! url = "postgres://dr@10.1.0.5:5432/postgres"   # this server
//! password = "${env:PG_DR_PASSWORD}"
//! peer = "postgres://dr@10.0.0.5:5432/postgres"  # the primary it follows
//! fence_roles = ["app"]                          # the application's login roles
//! ```
//!
//! The `dr` role needs to be a superuser, or to hold: `EXECUTE` on `pg_promote`
//! and `pg_reload_conf`, `ALTER SYSTEM` on `default_transaction_read_only` and
//! `primary_conninfo` (PostgreSQL 15's `GRANT ALTER SYSTEM ON PARAMETER`),
//! `CREATEROLE` (for `fence_roles`), `pg_signal_backend`, and `pg_read_all_settings`
//! plus `pg_read_all_stats`; for the divergence at failback, `EXECUTE` on
//! `pg_read_file(text, bigint, bigint, boolean)`. PostgreSQL 14 or later (`pg_terminate_backend` with a
//! timeout; `primary_conninfo` reloadable).
//!
//! ## The fence
//!
//! `fence()` on a primary:
//! 1. `ALTER SYSTEM SET default_transaction_read_only = on` and
//!    `pg_reload_conf()`, then waits until a new session sees it: every new
//!    session, and every existing one at its next transaction, starts read-only;
//! 2. `ALTER ROLE .. NOLOGIN` for each role of `fence_roles`: the application
//!    cannot open a session at all;
//! 3. `pg_terminate_backend` on every other client session of a non-superuser
//!    role, waiting for each to end: a transaction in flight is rolled back (it
//!    was never acknowledged), and a session that had set itself read-write is
//!    gone.
//!
//! What it does not stop: a superuser session (an operator's `psql`); and a
//! session of a role not in `fence_roles` that opens again and asks for writes on
//! purpose (`BEGIN READ WRITE` or `SET default_transaction_read_only = off`), a
//! read-only default being a default. List the application's roles in
//! `fence_roles` to close that. WAL senders keep streaming, on purpose: the
//! standby catches up to the fence before it is promoted. A hard fence (stopping
//! the server) is out of SQL's reach: use an `exec` step with `pg_ctl stop`.
//! Fencing a standby is `Ok` (it refuses writes already); `promote()` lifts the
//! fence (both settings) once the server is a primary.
//!
//! ## Replication lag
//!
//! Measured from both ends, because neither alone is right. Bytes: the primary's
//! `pg_current_wal_lsn()` minus the standby's `pg_last_wal_replay_lsn()`
//! (`lag_bytes`): what a promotion now would lose, exactly; zero bytes is zero
//! lag. Time, when behind: `now() - pg_last_xact_replay_timestamp()` on the
//! standby, the age of the newest replayed commit: an upper bound on the writes
//! a promotion would lose, which is what an RPO gate must compare. Not the
//! primary's `pg_stat_replication.replay_lag` (null on an idle primary, and it
//! measures how long replay took, not how much is missing), and not the replay
//! timestamp alone (it grows on an idle primary where nothing is missing). When
//! the primary cannot be reached the lag is unknown (`None`), and the RPO gate
//! treats it so.
//!
//! ## Failback: divergence and reverse
//!
//! After a failover `url` is the new primary and `peer` the old one.
//! `replication.reverse` makes the old one a standby of the new one, and
//! whatever it wrote after the last WAL byte the new primary received is
//! thrown away. The executor asks [`divergence`](dr_core::Replicator::divergence)
//! first, and refuses a reverse that would discard bytes (or cannot tell)
//! unless the run accepts data loss.
//!
//! Divergence: a promotion starts a new timeline, and the promoted server
//! writes in `pg_wal/%08X.history` where it left each ancestor timeline (one
//! past the last byte it had of it). The old primary's `pg_current_wal_lsn()`
//! past that point (`pg_wal_lsn_diff`) is what only it has. The file is read
//! with `pg_read_file`, which needs superuser or an `EXECUTE` grant on it:
//! without it, or with the old primary down, or with histories that do not
//! meet, the divergence is unknown, never zero. It is WAL, not rows: an old
//! primary that nobody wrote to may still show a few dozen bytes, the standby
//! snapshot its background writer logs on its own within 15 s of its last
//! write; a reverse throws those away too, holding no data, but SQL alone
//! cannot tell them from a write.
//!
//! Reverse: making a primary a standby takes files and processes on its host
//! (`pg_rewind` or a new base backup, `standby.signal`, a restart), out of
//! SQL's reach. `reverse_command` is the operator's program for it, run on the
//! `dr` host without a shell (`["ssh", "db-east", "sudo", "/usr/local/bin/pg-rejoin"]`),
//! with the servers in `DR_PG_NEW_PRIMARY_HOST`/`_PORT` and
//! `DR_PG_OLD_PRIMARY_HOST`/`_PORT` and no password; then the plugin waits
//! until the old primary is in recovery and streams on the new primary's
//! timeline. Without `reverse_command` the replicator does not declare
//! `reverse`, and a plan that asks for it fails validation.
#![warn(missing_docs)]

mod catchup;
mod client;
mod config;
mod error;
mod probe;
mod rejoin;
mod replicator;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod timeline;

use std::sync::Arc;

use dr_core::Registry;

pub use config::{
    DEFAULT_PROMOTE_TIMEOUT, DEFAULT_REVERSE_TIMEOUT, DEFAULT_TIMEOUT, ExpectRole, PostgresConfig,
};
pub use probe::PostgresProbe;
pub use replicator::PostgresReplicator;
pub use store::PostgresStore;

/// The provider name of a plan's PostgreSQL resources (`provider = "postgres"`),
/// also the provider every error of this crate names.
pub const PROVIDER: &str = "postgres";

/// Registers `provider = "postgres"` ([`PROVIDER`]) as a store, a replicator and a
/// probe.
pub fn register(registry: &mut Registry) {
    registry.store(PROVIDER, |settings| {
        Ok(Arc::new(PostgresStore::from_settings(settings)?))
    });
    registry.replicator(PROVIDER, |settings| {
        Ok(Arc::new(PostgresReplicator::from_settings(settings)?))
    });
    registry.probe(PROVIDER, |settings| {
        Ok(Arc::new(PostgresProbe::from_settings(settings)?))
    });
}

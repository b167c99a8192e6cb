//! Failback helpers: a primary that writes no WAL of its own after a test's
//! writes ([`PgServer::settle`]), and a real rejoin of an old primary onto its
//! promoted standby ([`PgServer::rejoin_command`]).

use std::time::Duration;

use super::{PgServer, SUPERUSER_PASSWORD, give_to_postgres};

impl PgServer {
    /// Waits until this primary has logged the WAL it writes on its own
    /// after the test's writes: its background writer logs a standby snapshot
    /// 15 s after it started, and again 15 s after the last one when anything
    /// was written since (with `bgwriter_delay = 10ms`, within half a second of
    /// that). Call it after the writes and before a failover whose divergence
    /// the test expects to be zero: a snapshot logged after the promote is WAL
    /// the new primary never receives. Returns at the first WAL the server
    /// writes by itself, or once no snapshot can be due.
    pub async fn settle(&self) {
        let client = self.client().await;
        let read = || async {
            client
                .query_one(
                    "SELECT pg_current_wal_lsn()::text, \
                            EXTRACT(EPOCH FROM now() - pg_postmaster_start_time())::float8",
                    &[],
                )
                .await
                .map(|row| (row.get::<_, String>(0), row.get::<_, f64>(1)))
                .unwrap_or_else(|e| panic!("on 127.0.0.1:{}: {e}", self.port))
        };
        let (lsn, up) = read().await;
        // The next 15 s mark after now, when the snapshot that covers the
        // writes so far is logged at the latest; plus a margin.
        let due = (up / 15.0).floor() * 15.0 + 15.0 + 2.0;
        loop {
            let (now_lsn, now_up) = read().await;
            if now_lsn != lsn || now_up >= due {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The argv of a `reverse_command` that makes this server (an old primary)
    /// a standby of the new primary named by `DR_PG_NEW_PRIMARY_HOST` and
    /// `DR_PG_NEW_PRIMARY_PORT`, as an operator's rejoin script would: a
    /// `CHECKPOINT` on the new primary (`pg_rewind` reads its timeline from
    /// the control file, which a promoted server updates at its first
    /// checkpoint), `pg_ctl stop -m fast` when running, `pg_rewind
    /// --source-server=.. --write-recovery-conf` (which writes `standby.signal`
    /// and `primary_conninfo`), this server's own `postgresql.conf` put back
    /// (`pg_rewind` copies the source's, with its port), `pg_ctl start`.
    /// Passwords come from a `passfile` in the server's dir, never from the
    /// command line. Each run appends a line to `rejoin.log` ([`rejoin_runs`](Self::rejoin_runs)).
    pub fn rejoin_command(&self) -> Vec<String> {
        let dir = self.data.parent().expect("a parent dir");
        let passfile = dir.join("pgpass");
        std::fs::write(
            &passfile,
            format!("127.0.0.1:*:*:postgres:{SUPERUSER_PASSWORD}\n"),
        )
        .expect("write the passfile");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600))
                .expect("chmod the passfile");
        }
        give_to_postgres(&passfile);
        let script = dir.join("rejoin.sh");
        std::fs::write(
            &script,
            format!(
                r#"#!/usr/bin/env bash
# Made by dr_postgres::testing: rejoins the old primary in $data as a standby
# of the new primary at $DR_PG_NEW_PRIMARY_HOST:$DR_PG_NEW_PRIMARY_PORT.
set -euo pipefail
: "${{DR_PG_NEW_PRIMARY_HOST:?}}" "${{DR_PG_NEW_PRIMARY_PORT:?}}"
bin='{bin}'
data='{data}'
dir='{dir}'
echo "new=$DR_PG_NEW_PRIMARY_HOST:$DR_PG_NEW_PRIMARY_PORT old=${{DR_PG_OLD_PRIMARY_HOST:-}}:${{DR_PG_OLD_PRIMARY_PORT:-}}" >> "$dir/rejoin.log"
as_pg() {{ if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }}
src="host=$DR_PG_NEW_PRIMARY_HOST port=$DR_PG_NEW_PRIMARY_PORT user=postgres dbname=postgres passfile=$dir/pgpass"
as_pg "$bin/psql" -X "$src" -Atqc CHECKPOINT
if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null; then
  as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
fi
as_pg cp "$data/postgresql.conf" "$dir/postgresql.conf.own"
as_pg "$bin/pg_rewind" --target-pgdata="$data" --source-server="$src" --write-recovery-conf --no-sync
as_pg cp "$dir/postgresql.conf.own" "$data/postgresql.conf"
as_pg "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null
"#,
                bin = self.bindir.display(),
                data = self.data.display(),
                dir = dir.display(),
            ),
        )
        .expect("write the rejoin script");
        vec!["bash".into(), script.display().to_string()]
    }

    /// How many times the [`rejoin_command`](Self::rejoin_command) ran.
    pub fn rejoin_runs(&self) -> usize {
        let log = self.data.parent().expect("a parent dir").join("rejoin.log");
        std::fs::read_to_string(log)
            .map(|l| l.lines().count())
            .unwrap_or(0)
    }
}

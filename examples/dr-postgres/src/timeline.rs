//! Where a server stands in the WAL history: the facts a replication link's
//! status, its reverse and the divergence at failback are decided on.
//!
//! A promotion starts a new timeline. The promoted server writes the history
//! of its timeline to `pg_wal/%08X.history`: one line per ancestor timeline,
//! with the LSN where it left it (the switchpoint, one past the last WAL byte
//! it had replayed from it). Whatever the old primary wrote on that ancestor
//! timeline past the switchpoint, the new primary never received.

use dr_core::ProviderError;
use tokio_postgres::error::SqlState;

use crate::client::{Conn, PgNode};

/// What one server says about its place in the WAL history, read in one query.
#[derive(Debug, Clone)]
pub(crate) struct Position {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// Not in recovery: the timeline it writes (from `pg_walfile_name`).
    pub timeline: Option<u32>,
    /// In recovery: `pg_stat_wal_receiver.status`, when a WAL receiver runs.
    pub receiver: Option<String>,
    /// In recovery: the timeline the WAL receiver receives.
    pub received_tli: Option<u32>,
    /// `primary_conninfo` is empty (the link was stopped on purpose).
    pub conninfo_empty: bool,
    /// `pg_last_wal_replay_lsn()`.
    pub replay_lsn: Option<String>,
    /// Seconds since the newest replayed commit.
    pub replay_age: Option<f64>,
}

impl Position {
    /// In recovery and streaming on `timeline`: a standby of the primary that
    /// writes it (after a reverse: of the new primary).
    pub fn streams_on(&self, timeline: u32) -> bool {
        self.in_recovery
            && self.receiver.as_deref() == Some("streaming")
            && self.received_tli == Some(timeline)
    }

    /// What it is, for messages.
    pub fn describe(&self) -> String {
        if !self.in_recovery {
            return "a primary (not in recovery)".into();
        }
        match (&self.receiver, self.received_tli) {
            (Some(status), Some(tli)) => {
                format!("in recovery, WAL receiver {status} on timeline {tli}")
            }
            (Some(status), None) => format!("in recovery, WAL receiver {status}"),
            (None, _) => "in recovery without a WAL receiver".into(),
        }
    }
}

/// One line of a timeline history file: `parent` was left at `switchpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fork {
    /// The ancestor timeline.
    pub parent: u32,
    /// Where the history left it (an LSN, `X/Y`).
    pub switchpoint: String,
}

impl Conn<'_> {
    /// The server's [`Position`].
    pub async fn position(&self) -> Result<Position, ProviderError> {
        let row = self
            .row(
                "read the server's WAL position",
                "SELECT pg_is_in_recovery(), \
                        CASE WHEN pg_is_in_recovery() THEN NULL \
                             ELSE pg_walfile_name(pg_current_wal_lsn()) END, \
                        (SELECT status FROM pg_stat_wal_receiver LIMIT 1), \
                        (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1), \
                        current_setting('primary_conninfo') = '', \
                        pg_last_wal_replay_lsn()::text, \
                        EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8",
                &[],
            )
            .await?;
        let walfile: Option<String> = row.get(1);
        let received: Option<i32> = row.get(3);
        Ok(Position {
            in_recovery: row.get(0),
            timeline: walfile.as_deref().and_then(walfile_timeline),
            receiver: row.get(2),
            received_tli: received.and_then(|t| u32::try_from(t).ok()),
            conninfo_empty: row.get(4),
            replay_lsn: row.get(5),
            replay_age: row.get(6),
        })
    }

    /// `pg_wal_lsn_diff(pg_current_wal_lsn(), lsn)` on this primary: how far
    /// it has written past `lsn`, in bytes (negative: not that far).
    pub async fn written_past(&self, lsn: &str) -> Result<Option<i64>, ProviderError> {
        let row = self
            .row(
                "measure the WAL written past a position",
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::bigint",
                &[&lsn],
            )
            .await?;
        Ok(row.get(0))
    }
}

/// The server's [`Position`], on a fresh connection.
pub(crate) async fn position(node: &PgNode) -> Result<Position, ProviderError> {
    node.connect().await?.position().await
}

/// Where the history of `timeline` on this server left `ancestor`: the last
/// WAL byte (plus one) it has of it. `None` when that cannot be read over SQL:
/// the history file is missing (timeline 1 has none), the role may not read it
/// (`pg_read_file` needs superuser or an `EXECUTE` grant on it), or `ancestor` is
/// not in it (the two servers' histories do not meet there).
pub(crate) async fn fork_from(
    node: &PgNode,
    timeline: u32,
    ancestor: u32,
) -> Result<Option<String>, ProviderError> {
    let conn = node.connect().await?;
    let path = format!("pg_wal/{timeline:08X}.history");
    let read = conn
        .row_or_pg_error(
            "read the timeline history",
            // Offset and length given: the form with `missing_ok` that every
            // supported PostgreSQL has. A history file is a line per ancestor.
            "SELECT pg_read_file($1, 0, 1048576, true)",
            &[&path],
        )
        .await?;
    let text: Option<String> = match read {
        Ok(row) => row.get(0),
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            tracing::debug!(
                "{}: cannot read {path} ({e}): the divergence is unknown",
                node.addr()
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(crate::error::from_pg(
                node.addr(),
                "read the timeline history",
                &e,
            ));
        }
    };
    Ok(text.and_then(|text| {
        parse_history(&text)
            .into_iter()
            .find(|f| f.parent == ancestor)
            .map(|f| f.switchpoint)
    }))
}

/// The timeline of a WAL file name (`000000020000000000000003` is timeline 2).
pub(crate) fn walfile_timeline(name: &str) -> Option<u32> {
    let tli = name.get(..8)?;
    u32::from_str_radix(tli, 16).ok().filter(|t| *t > 0)
}

/// The lines of a timeline history file: `parentTLI<TAB>switchpoint<TAB>reason`;
/// blank lines and `#` comments are skipped, as PostgreSQL does.
pub(crate) fn parse_history(text: &str) -> Vec<Fork> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let mut fields = line.split_whitespace();
            let parent = fields.next()?.parse().ok()?;
            let switchpoint = fields.next()?;
            let (hi, lo) = switchpoint.split_once('/')?;
            u32::from_str_radix(hi, 16).ok()?;
            u32::from_str_radix(lo, 16).ok()?;
            Some(Fork {
                parent,
                switchpoint: switchpoint.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_file_gives_where_each_ancestor_was_left() {
        let text = "1\t0/3027AC0\tno recovery target specified\n\n\
                    # a comment\n2\t1/A0000028\tbefore 2026-01-01 00:00:00+00\n";
        assert_eq!(
            parse_history(text),
            vec![
                Fork {
                    parent: 1,
                    switchpoint: "0/3027AC0".into()
                },
                Fork {
                    parent: 2,
                    switchpoint: "1/A0000028".into()
                },
            ]
        );
        assert!(parse_history("garbage\n1 not-an-lsn x\n").is_empty());
    }

    #[test]
    fn a_wal_file_name_starts_with_its_timeline() {
        assert_eq!(walfile_timeline("000000020000000000000003"), Some(2));
        assert_eq!(walfile_timeline("0000001A0000000000000003"), Some(26));
        assert_eq!(walfile_timeline("zz"), None);
        assert_eq!(walfile_timeline("000000000000000000000003"), None);
    }
}

//! Waiting for a standby to replay what its primary has written.

use std::time::Duration;

use dr_core::ProviderError;
use dr_core::poll::{self, CancellationToken, Poll};
use tokio::time::Instant;

use crate::client::PgNode;
use crate::error::from_poll;

/// How often the standby's replay position is read again.
const POLL: Duration = Duration::from_millis(25);

/// Waits (at most `within`) until `standby` has replayed everything `primary`
/// had written when the wait began. `Ok(false)` when the primary cannot be
/// asked (it does not answer, or is itself in recovery): there is nothing to
/// wait for. An error when the standby does not catch up in time.
pub(crate) async fn catch_up(
    standby: &PgNode,
    primary: &PgNode,
    within: Duration,
) -> Result<bool, ProviderError> {
    let Ok(conn) = primary.connect().await else {
        return Ok(false);
    };
    let Ok(row) = conn
        .row(
            "read the primary's WAL position",
            "SELECT CASE WHEN pg_is_in_recovery() THEN NULL \
                         ELSE pg_current_wal_lsn()::text END",
            &[],
        )
        .await
    else {
        return Ok(false);
    };
    let Some(target) = row.get::<_, Option<String>>(0) else {
        return Ok(false);
    };
    drop(conn);
    let what = format!(
        "{}: the standby to replay the primary's WAL up to {target}",
        standby.addr()
    );
    let target = &target;
    poll::until(
        &what,
        Instant::now() + within,
        POLL,
        &CancellationToken::new(),
        || async move {
            let conn = standby.connect().await?;
            let row = conn
                .row(
                    "read the standby's replay position",
                    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::text::pg_lsn) >= 0",
                    &[target],
                )
                .await?;
            Ok(if row.get::<_, Option<bool>>(0).unwrap_or(false) {
                Poll::Ready(())
            } else {
                Poll::Pending
            })
        },
    )
    .await
    .map_err(from_poll)?;
    Ok(true)
}

//! Bounded concurrency for reads that fan out (`dr check`, `dr watch`).

use std::sync::Arc;

/// Runs `f` on every item as its own task, at most `limit` at once; the
/// results in completion order. A task that panics is left out.
pub(crate) async fn bounded<T, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<Fut::Output>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for item in items {
        let fut = f(item);
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            fut.await
        });
    }
    let mut out = Vec::with_capacity(tasks.len());
    while let Some(r) = tasks.join_next().await {
        if let Ok(v) = r {
            out.push(v);
        }
    }
    out
}

/// One read-only call `dr check`, `dr status` and `dr plan` make, with the
/// object it is made on.
pub(crate) enum Reader {
    /// `TrafficRouter::current(scope)`.
    Split(Arc<dyn crate::TrafficRouter>, Option<String>),
    /// `DataStore::role`, then `writable` when asked (and the role was read).
    Role(Arc<dyn crate::DataStore>, bool),
    /// `Replicator::status`.
    Status(Arc<dyn crate::Replicator>),
    /// `HealthProbe::peek` (a read must not advance what a run's probe sees),
    /// bounded by [`PEEK_TIMEOUT`].
    Peek(Arc<dyn crate::HealthProbe>),
    /// `Action::verify`.
    Verify(Arc<dyn crate::Action>),
}

/// What a [`Reader`] saw.
#[derive(Debug, Clone)]
pub(crate) enum Seen {
    Split(crate::TrafficSplit),
    Role(crate::Role, Option<bool>),
    Status(crate::ReplicationStatus),
    Health(crate::Health),
    Verified(bool),
}

/// How long one probe `peek` may take when read for a command.
pub(crate) const PEEK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Makes every read, at most `limit` at once (a plan's `max_parallel`): in a
/// regional outage each slow read may take its whole timeout, and one at a
/// time twenty of them take twenty timeouts. Each result comes back with its
/// caller's key, in the order of `reads`.
pub(crate) async fn read_all<K: Send + 'static>(
    reads: Vec<(K, Reader)>,
    limit: usize,
) -> Vec<(K, Result<Seen, crate::ProviderError>)> {
    let (keys, readers): (Vec<K>, Vec<Reader>) = reads.into_iter().unzip();
    let mut got: Vec<Option<Result<Seen, crate::ProviderError>>> =
        std::iter::repeat_with(|| None).take(keys.len()).collect();
    let indexed: Vec<(usize, Reader)> = readers.into_iter().enumerate().collect();
    for (i, r) in bounded(indexed, limit, |(i, reader)| async move {
        (i, reader.read().await)
    })
    .await
    {
        got[i] = Some(r);
    }
    keys.into_iter()
        .zip(got)
        // A read whose task panicked is an error, not a silent gap.
        .map(|(k, r)| {
            (
                k,
                r.unwrap_or_else(|| Err(crate::ProviderError::fatal("the read panicked"))),
            )
        })
        .collect()
}

impl Reader {
    async fn read(self) -> Result<Seen, crate::ProviderError> {
        match self {
            Reader::Split(r, scope) => r.current(scope.as_deref()).await.map(Seen::Split),
            Reader::Role(s, writable) => {
                let role = s.role().await?;
                let w = if writable {
                    s.writable().await.ok()
                } else {
                    None
                };
                Ok(Seen::Role(role, w))
            }
            Reader::Status(r) => r.status().await.map(Seen::Status),
            Reader::Peek(p) => match tokio::time::timeout(PEEK_TIMEOUT, p.peek()).await {
                Ok(got) => got.map(Seen::Health),
                Err(_) => Err(crate::ProviderError::transient(format!(
                    "the probe did not answer within {}",
                    crate::format_duration(PEEK_TIMEOUT)
                ))),
            },
            Reader::Verify(a) => a.verify().await.map(Seen::Verified),
        }
    }
}

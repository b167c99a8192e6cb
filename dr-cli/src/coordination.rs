//! `--coordination URL` (env `DR_COORDINATION`): where the plan lock, the
//! journal and the audit log live when runs must survive the machine (etcd).

use std::sync::Arc;

use dr_core::coord::Coordination;

use crate::Global;
use crate::common::usage_error;

/// A connected coordination.
#[derive(Debug, Clone)]
pub(crate) struct Coord {
    /// What the executor and the commands talk to.
    pub shared: Arc<dyn Coordination>,
    #[cfg(feature = "etcd")]
    etcd: dr_etcd::Etcd,
}

impl Coord {
    /// Connects to `--coordination`, if given. Exit 2 (nothing ran) for a URL
    /// that is not understood, or when this `dr` was built without etcd.
    pub async fn connect(g: &Global) -> Result<Option<Coord>, u8> {
        let Some(url) = g.coordination.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        #[cfg(feature = "etcd")]
        {
            match dr_etcd::Etcd::connect(url).await {
                Ok(etcd) => Ok(Some(Coord {
                    shared: Arc::new(etcd.clone()),
                    etcd,
                })),
                Err(e) => Err(usage_error(
                    g,
                    "coordination",
                    format!("--coordination: {e}"),
                )),
            }
        }
        #[cfg(not(feature = "etcd"))]
        {
            let _ = url;
            Err(usage_error(
                g,
                "coordination",
                "--coordination: this `dr` was built without coordination on etcd \
                 (cargo feature `etcd` of dr-cli)"
                    .to_string(),
            ))
        }
    }

    /// The coordination as watch instance `instance` (recorded with the runs
    /// it carries).
    pub fn as_instance(&self, instance: &str) -> Arc<dyn Coordination> {
        #[cfg(feature = "etcd")]
        {
            Arc::new(self.etcd.with_instance(instance))
        }
        #[cfg(not(feature = "etcd"))]
        {
            let _ = instance;
            self.shared.clone()
        }
    }

    /// The watch instances of `plan`, this one named `instance`.
    pub fn peers(&self, plan: &str, instance: &str) -> Arc<dyn dr_core::watch::peers::Peers> {
        #[cfg(feature = "etcd")]
        {
            Arc::new(dr_etcd::EtcdPeers::new(&self.etcd, plan, instance))
        }
        #[cfg(not(feature = "etcd"))]
        {
            let _ = (plan, instance);
            unreachable!("a Coord exists only with feature `etcd`")
        }
    }
}

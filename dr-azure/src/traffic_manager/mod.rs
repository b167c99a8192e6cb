//! `azure.traffic_manager` (feature `traffic_manager`): a Traffic Manager
//! profile's endpoints as a [`TrafficRouter`](dr_core::TrafficRouter) and an
//! endpoint's monitor status as a [`HealthProbe`](dr_core::HealthProbe).
//!
//! Targets are endpoints (`azureEndpoints/NAME`, `externalEndpoints/NAME`,
//! `nestedEndpoints/NAME`). A weighted profile gets `Enabled` + weight
//! `10 × percent` per target with traffic and `Disabled` for the others; a
//! priority profile is failover-only. The probe reads `endpointMonitorStatus`.

mod config;
mod probe;
mod router;

use std::sync::Arc;

use dr_core::Registry;

pub use config::{RoutingMethod, TrafficManagerConfig};
pub use probe::TrafficManagerProbe;
pub use router::TrafficManagerRouter;

use crate::credential::TokenSource;

/// `provider = "azure.traffic_manager"`.
pub const TRAFFIC_MANAGER: &str = "azure.traffic_manager";

/// Registers the router and the probe.
pub(crate) fn register(registry: &mut Registry, token: Arc<dyn TokenSource>) {
    let t = token.clone();
    registry.router(TRAFFIC_MANAGER, move |s| {
        Ok(Arc::new(TrafficManagerRouter::from_settings(s, t.clone())?))
    });
    let t = token;
    registry.probe(TRAFFIC_MANAGER, move |s| {
        Ok(Arc::new(TrafficManagerProbe::from_settings(s, t.clone())?))
    });
}

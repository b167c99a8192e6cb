//! `azure.front_door` (feature `front_door`): the origins of one Front Door
//! (Standard/Premium) origin group as a [`TrafficRouter`](dr_core::TrafficRouter)
//! and an origin's health as a [`HealthProbe`](dr_core::HealthProbe).
//!
//! Targets are origins of one origin group, `enabledState` and `weight` as Traffic
//! Manager's endpoints; origin PATCHes are long-running operations. The probe
//! reads the Azure Monitor metric `OriginHealthPercentage`.

mod config;
mod probe;
mod router;

use std::sync::Arc;

use dr_core::Registry;

pub use config::FrontDoorConfig;
pub use probe::FrontDoorProbe;
pub use router::FrontDoorRouter;

use crate::credential::TokenSource;

/// `provider = "azure.front_door"`.
pub const FRONT_DOOR: &str = "azure.front_door";

/// Registers the router and the probe.
pub(crate) fn register(registry: &mut Registry, token: Arc<dyn TokenSource>) {
    let t = token.clone();
    registry.router(FRONT_DOOR, move |s| {
        Ok(Arc::new(FrontDoorRouter::from_settings(s, t.clone())?))
    });
    let t = token;
    registry.probe(FRONT_DOOR, move |s| {
        Ok(Arc::new(FrontDoorProbe::from_settings(s, t.clone())?))
    });
}

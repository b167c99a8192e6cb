//! Which cargo feature brings which provider and action names: compiled in every
//! build, so [`register`](crate::register) can tell the registry the feature of
//! each name it leaves out. The service modules' name constants agree with it (a
//! unit test checks, with every feature on).

use dr_core::Registry;

/// One cargo feature of this crate and the names it registers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    /// `dr-azure/<feature>` (`dr-azure/traffic_manager`), as
    /// `Registry::compiled_out` takes it.
    pub cargo: &'static str,
    /// Whether this build has the feature.
    pub compiled: bool,
    /// Every provider and action name the feature registers.
    pub names: &'static [&'static str],
}

/// A row of [`SERVICES`]: the feature's name, written once.
macro_rules! service {
    ($feature:literal, [$($name:literal),+ $(,)?]) => {
        Service {
            cargo: concat!("dr-azure/", $feature),
            compiled: cfg!(feature = $feature),
            names: &[$($name),+],
        }
    };
}

/// Every service feature, in the order of `default` in Cargo.toml.
pub(crate) const SERVICES: [Service; 6] = [
    service!("traffic_manager", ["azure.traffic_manager"]),
    service!("front_door", ["azure.front_door"]),
    service!("storage_account", ["azure.storage_account"]),
    service!("postgres_flexible", ["azure.postgres_flexible"]),
    service!("web_app", ["azure.web_app.set_connection_string"]),
    service!("blob", ["azure.blob_canary"]),
];

/// Marks every name of the services not compiled in with the feature that brings it.
pub(crate) fn mark_compiled_out(registry: &mut Registry, services: &[Service]) {
    for service in services.iter().filter(|s| !s.compiled) {
        for name in service.names {
            registry.compiled_out(name, service.cargo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The feature's own name (`traffic_manager`).
    fn feature(s: &Service) -> &'static str {
        s.cargo
            .strip_prefix("dr-azure/")
            .expect("`dr-azure/` + the feature")
    }

    #[test]
    fn the_table_has_every_service_feature_of_cargo_toml_and_only_those() {
        let manifest = include_str!("../Cargo.toml");
        let default = manifest
            .lines()
            .find_map(|l| l.strip_prefix("default = ["))
            .expect("a `default = [...]` line in Cargo.toml");
        let listed: Vec<&str> = default
            .trim_end_matches(']')
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        let table: Vec<&str> = SERVICES.iter().map(feature).collect();
        assert_eq!(listed, table);
        for s in SERVICES {
            let f = feature(&s);
            assert!(manifest.contains(&format!("\n{f} = [")), "{f}");
            for name in s.names {
                assert!(name.starts_with(&format!("{}.", crate::PROVIDER)), "{name}");
            }
        }
    }

    #[test]
    fn a_service_compiled_out_has_every_name_marked_with_its_feature() {
        let out: Vec<Service> = SERVICES
            .iter()
            .map(|s| Service {
                compiled: false,
                ..*s
            })
            .collect();
        let mut registry = Registry::new();
        mark_compiled_out(&mut registry, &out);
        for s in &out {
            for name in s.names {
                assert_eq!(registry.compiled_out_feature(name), Some(s.cargo));
            }
        }
        let mut registry = Registry::new();
        mark_compiled_out(&mut registry, &SERVICES);
        for s in SERVICES.iter().filter(|s| s.compiled) {
            for name in s.names {
                assert_eq!(registry.compiled_out_feature(name), None, "{name}");
            }
        }
    }

    #[cfg(all(
        feature = "traffic_manager",
        feature = "front_door",
        feature = "storage_account",
        feature = "postgres_flexible",
        feature = "web_app",
        feature = "blob"
    ))]
    mod all_features {
        use std::sync::Arc;

        use dr_core::{Kind, Registry};

        use super::{SERVICES, feature};
        use crate::*;

        #[test]
        fn the_table_agrees_with_the_modules_constants_and_what_is_registered() {
            let consts: [(&str, &[&str]); 6] = [
                ("traffic_manager", &[TRAFFIC_MANAGER]),
                ("front_door", &[FRONT_DOOR]),
                ("storage_account", &[STORAGE_ACCOUNT]),
                ("postgres_flexible", &[POSTGRES_FLEXIBLE]),
                ("web_app", &[SET_CONNECTION_STRING]),
                ("blob", &[BLOB_CANARY]),
            ];
            for (s, (name, names)) in SERVICES.iter().zip(consts) {
                assert_eq!((feature(s), s.names), (name, names));
                assert!(s.compiled, "{name}");
            }
            let mut registry = Registry::new();
            register_with(&mut registry, Arc::new(StaticToken::new("t")));
            let mut registered = registry.providers();
            registered.extend(registry.actions());
            registered.sort();
            let mut table: Vec<String> = SERVICES
                .iter()
                .flat_map(|s| s.names.iter().map(|n| n.to_string()))
                .collect();
            table.sort();
            assert_eq!(registered, table);
            for name in &table {
                assert_eq!(registry.compiled_out_feature(name), None, "{name}");
            }
        }

        #[test]
        fn every_name_starts_with_the_provider_prefix_and_is_registered() {
            let mut registry = Registry::new();
            register_with(&mut registry, Arc::new(StaticToken::new("t")));
            for (name, kinds) in [
                (TRAFFIC_MANAGER, vec![Kind::Router, Kind::Probe]),
                (FRONT_DOOR, vec![Kind::Router, Kind::Probe]),
                (STORAGE_ACCOUNT, vec![Kind::Store, Kind::Replicator]),
                (POSTGRES_FLEXIBLE, vec![Kind::Store, Kind::Replicator]),
                (BLOB_CANARY, vec![Kind::Replicator]),
            ] {
                assert!(name.starts_with(&format!("{PROVIDER}.")), "{name}");
                assert_eq!(registry.kinds(name), kinds, "{name}");
            }
            assert!(SET_CONNECTION_STRING.starts_with("azure."));
            assert!(registry.has_action(SET_CONNECTION_STRING));
        }
    }
}

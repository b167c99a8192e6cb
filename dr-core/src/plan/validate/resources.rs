//! `[resources.*]`: providers, uses of resources by role, building the
//! provider objects, and `health` links from router targets to probes.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Use, Validator, key, with};
use crate::plan::model::{Resource, ResourceTable};
use crate::plan::source::Node;
use crate::{Kind, Registry, Settings};

/// The decoded resource tables whose provider is registered, in file order.
pub(super) type Decl = Vec<(String, ResourceTable)>;

/// Router health links are probe uses.
pub(super) fn health_uses(resources: &Decl) -> Vec<Use> {
    let mut uses = Vec::new();
    for (name, r) in resources {
        for (target, probe) in r.health.iter().flatten() {
            uses.push(Use {
                resource: probe.clone(),
                kind: Kind::Probe,
                at: vec![key("resources"), key(name), key("health"), key(target)],
            });
        }
    }
    uses
}

impl Validator<'_> {
    /// Decodes every `[resources.NAME]` and checks its provider is registered.
    pub(super) fn decode_resources(&mut self, root: &Node, registry: &Registry) -> Decl {
        let mut resources: Vec<(String, ResourceTable)> = Vec::new();
        if let Some(node) = root.get("resources") {
            match node.table() {
                None => self.err(
                    root,
                    &[key("resources")],
                    false,
                    "`resources` must be a table of tables",
                ),
                Some(entries) => {
                    for e in entries {
                        let path = [key("resources"), key(&e.key)];
                        if e.key.trim().is_empty() {
                            self.err(root, &path, true, "a resource name must not be empty");
                            continue;
                        }
                        if let Some(r) = self.decode::<ResourceTable>(root, &path, e.node.to_json())
                        {
                            if let Some(feature) = registry.compiled_out_feature(&r.provider) {
                                self.err(
                                    root,
                                    &with(&path, &[key("provider")]),
                                    false,
                                    super::compiled_out("provider", &r.provider, feature),
                                );
                            } else if registry.kinds(&r.provider).is_empty() {
                                self.err(
                                    root,
                                    &with(&path, &[key("provider")]),
                                    false,
                                    format!(
                                        "unknown provider `{}` (registered: {})",
                                        r.provider,
                                        registry.providers().join(", ")
                                    ),
                                );
                            } else {
                                resources.push((e.key.clone(), r));
                            }
                        }
                    }
                }
            }
        }
        resources
    }

    /// Every use names an existing resource of the right kind; returns the kinds
    /// each resource is used as.
    pub(super) fn resolve_uses(
        &mut self,
        root: &Node,
        registry: &Registry,
        resources: &Decl,
        uses: &[Use],
    ) -> BTreeMap<String, Vec<Kind>> {
        let provider_of: HashMap<String, String> = resources
            .iter()
            .map(|(n, r)| (n.clone(), r.provider.clone()))
            .collect();
        let all_resources: HashSet<String> = root
            .get("resources")
            .and_then(Node::table)
            .map(|t| t.iter().map(|e| e.key.clone()).collect())
            .unwrap_or_default();
        let mut kinds_used: BTreeMap<String, Vec<Kind>> = BTreeMap::new();
        for u in uses {
            match provider_of.get(&u.resource) {
                None if all_resources.contains(u.resource.as_str()) => {} // its provider error is already reported
                None => {
                    let hint = self.suggest(&u.resource, all_resources.iter().map(String::as_str));
                    self.err(
                        root,
                        &u.at,
                        false,
                        format!("unknown resource `{}`{hint}", u.resource),
                    )
                }
                Some(p) => {
                    let kinds = registry.kinds(p);
                    if kinds.contains(&u.kind) {
                        let k = kinds_used.entry(u.resource.clone()).or_default();
                        if !k.contains(&u.kind) {
                            k.push(u.kind);
                        }
                    } else {
                        let can: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                        self.err(
                            root,
                            &u.at,
                            false,
                            format!(
                                "resource `{}` (provider `{p}`) is not a {}; it can be used as: {}",
                                u.resource,
                                u.kind,
                                can.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        kinds_used
    }

    /// Builds the provider objects for the kinds in use (an unused resource
    /// must still build as one of its provider's kinds).
    pub(super) fn build_resources(
        &mut self,
        root: &Node,
        registry: &Registry,
        resources: Decl,
        mut kinds_used: BTreeMap<String, Vec<Kind>>,
    ) -> Vec<Resource> {
        let mut built: Vec<Resource> = Vec::new();
        for (name, r) in resources {
            let path = vec![key("resources"), key(&name)];
            let settings = Settings::new(&name, &r.provider, r.settings.clone());
            let mut kinds = kinds_used.remove(&name).unwrap_or_default();
            kinds.sort();
            let mut res = Resource {
                name: name.clone(),
                provider: r.provider.clone(),
                settings: settings.clone(),
                health: r.health.clone().unwrap_or_default(),
                kinds: kinds.clone(),
                router: None,
                probe: None,
                store: None,
                replicator: None,
            };
            let mut build_failed = false;
            if kinds.is_empty() {
                // Unused, but its settings are still checked: it must build as at
                // least one of its provider's kinds.
                let all = registry.kinds(&r.provider);
                let mut first_err = None;
                let mut any_ok = false;
                for kind in all {
                    let result = match kind {
                        Kind::Router => registry.build_router(&settings).map(|r| r.map(|_| ())),
                        Kind::Probe => registry.build_probe(&settings).map(|r| r.map(|_| ())),
                        Kind::Store => registry.build_store(&settings).map(|r| r.map(|_| ())),
                        Kind::Replicator => {
                            registry.build_replicator(&settings).map(|r| r.map(|_| ()))
                        }
                    };
                    match result {
                        Some(Ok(())) => any_ok = true,
                        Some(Err(e)) if first_err.is_none() => first_err = Some(e),
                        _ => {}
                    }
                }
                if let (false, Some(e)) = (any_ok, first_err) {
                    self.config_error(root, &path, &e);
                }
            }
            for kind in &kinds {
                let result = match kind {
                    Kind::Router => registry
                        .build_router(&settings)
                        .map(|r| r.map(|o| res.router = Some(o))),
                    Kind::Probe => registry
                        .build_probe(&settings)
                        .map(|r| r.map(|o| res.probe = Some(o))),
                    Kind::Store => registry
                        .build_store(&settings)
                        .map(|r| r.map(|o| res.store = Some(o))),
                    Kind::Replicator => registry
                        .build_replicator(&settings)
                        .map(|r| r.map(|o| res.replicator = Some(o))),
                };
                if let Some(Err(e)) = result {
                    if !build_failed {
                        self.config_error(root, &path, &e);
                    }
                    build_failed = true;
                }
            }
            // A promote reads its lag from the store itself when the provider can.
            if res.store.is_some()
                && res.replicator.is_none()
                && registry.kinds(&r.provider).contains(&Kind::Replicator)
                && let Some(Ok(rep)) = registry.build_replicator(&settings)
            {
                res.replicator = Some(rep);
            }
            built.push(res);
        }
        built
    }

    /// `health` links name targets of a resource used as a router.
    pub(super) fn check_health_links(&mut self, root: &Node, built: &[Resource]) {
        for r in built {
            let Some(router) = &r.router else {
                if !r.health.is_empty() {
                    self.err(root, &[key("resources"), key(&r.name), key("health")], true, "`health` links router targets to probes, but this resource is not used as a router");
                }
                continue;
            };
            let targets = router.targets();
            for target in r.health.keys() {
                if !targets.contains(target) {
                    self.err(
                        root,
                        &[key("resources"), key(&r.name), key("health"), key(target)],
                        true,
                        format!(
                            "unknown target `{target}` (router targets: {})",
                            targets.join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// A `sim.probe`'s `follows = "ROUTER:TARGET"` names a `sim.router` of the
    /// plan and one of its targets; a bare `"TARGET"`, a target of one of the
    /// plan's sim routers (when it has any: the state file may be shared with
    /// another plan's).
    pub(super) fn check_sim_follows(&mut self, root: &Node, built: &[Resource]) {
        let targets_of = |r: &Resource| -> Vec<String> {
            r.settings
                .get("targets")
                .and_then(|t| t.as_array())
                .map(|t| {
                    t.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let routers: HashMap<&str, &Resource> = built
            .iter()
            .filter(|r| r.provider == "sim.router")
            .map(|r| (r.name.as_str(), r))
            .collect();
        for r in built.iter().filter(|r| r.provider == "sim.probe") {
            let Some(follows) = r.settings.get("follows").and_then(|f| f.as_str()) else {
                continue;
            };
            let at = [key("resources"), key(&r.name), key("follows")];
            let problem = match follows.split_once(':') {
                Some((router, target)) => match routers.get(router) {
                    None => {
                        let mut names: Vec<&str> = routers.keys().copied().collect();
                        names.sort();
                        Some(format!(
                            "`follows = \"{follows}\"` names router `{router}`, which is not a \
                             `sim.router` of this plan (sim routers: {})",
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        ))
                    }
                    Some(res) => {
                        let targets = targets_of(res);
                        (!targets.iter().any(|t| t == target)).then(|| {
                            format!(
                                "`follows = \"{follows}\"`: router `{router}` has no target \
                                 `{target}` (targets: {})",
                                targets.join(", ")
                            )
                        })
                    }
                },
                None if routers.is_empty() => None,
                None => {
                    let mut all: Vec<String> =
                        routers.values().flat_map(|r| targets_of(r)).collect();
                    all.sort();
                    all.dedup();
                    (!all.iter().any(|t| t == follows)).then(|| {
                        format!(
                            "`follows = \"{follows}\"` is not a target of this plan's sim \
                             routers (targets: {})",
                            all.join(", ")
                        )
                    })
                }
            };
            if let Some(msg) = problem {
                self.err(root, &at, false, msg);
            }
        }
    }
}

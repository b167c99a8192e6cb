//! Pure load-balancer logic: reading the effective split out of a load balancer
//! and computing the fields that make a split effective, under Cloudflare's
//! steering semantics (see the crate docs). No I/O here, so every rule is unit tested.

use std::collections::BTreeMap;

use dr_core::{ProviderError, TrafficSplit, apportion};
use serde_json::{Map, Value, json};

use crate::error::{bad_answer, conflict};

/// The fields of a load balancer this provider reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LbView {
    /// `steering_policy` as stored (may be `""`).
    pub policy: String,
    pub default_pools: Vec<String>,
    pub region_pools: BTreeMap<String, Vec<String>>,
    /// `country_pools` or `pop_pools` is non-empty.
    pub other_geo: bool,
    pub default_weight: f64,
    pub pool_weights: BTreeMap<String, f64>,
}

fn pool_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn non_empty_map(v: Option<&Value>) -> bool {
    v.and_then(Value::as_object).is_some_and(|m| !m.is_empty())
}

impl LbView {
    pub(crate) fn from_json(lb: &Value) -> LbView {
        let region_pools = lb
            .get("region_pools")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), pool_list(v)))
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let rs = lb.get("random_steering");
        LbView {
            policy: lb
                .get("steering_policy")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            default_pools: lb.get("default_pools").map(pool_list).unwrap_or_default(),
            region_pools,
            other_geo: non_empty_map(lb.get("country_pools")) || non_empty_map(lb.get("pop_pools")),
            default_weight: rs
                .and_then(|r| r.get("default_weight"))
                .and_then(Value::as_f64)
                .unwrap_or(1.0),
            pool_weights: rs
                .and_then(|r| r.get("pool_weights"))
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_f64().map(|w| (k.clone(), w)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The policy Cloudflare applies: `""` means `geo` when any geo map is set, else `off`.
    pub(crate) fn effective_policy(&self) -> &str {
        match self.policy.as_str() {
            "" | "\"\"" if !self.region_pools.is_empty() || self.other_geo => "geo",
            "" | "\"\"" => "off",
            p => p,
        }
    }
}

/// The router's targets and pools.
#[derive(Debug, Clone)]
pub(crate) struct Pools {
    /// target → pool id
    pub targets: BTreeMap<String, String>,
    /// region → scoped pool id
    pub scoped: BTreeMap<String, String>,
}

impl Pools {
    fn target_of(&self, pool_id: &str) -> Option<&str> {
        self.targets
            .iter()
            .find(|(_, id)| *id == pool_id)
            .map(|(t, _)| t.as_str())
    }

    fn pool_of(&self, target: &str) -> &str {
        &self.targets[target]
    }
}

/// How many millionths a Cloudflare weight is. Cloudflare documents pool weights
/// (`random_steering`) and origin weights as numbers from 0 to 1; an answer with
/// anything else (not finite, negative, above 1) is refused by name rather than
/// carried into the arithmetic.
pub(crate) fn weight_units(what: &str, w: f64) -> Result<u64, ProviderError> {
    if !w.is_finite() || !(0.0..=1.0).contains(&w) {
        return Err(bad_answer(
            what,
            format!("weight {w} is outside the documented range 0 to 1"),
        ));
    }
    // 0 <= w * 1e6 <= 1e6: the cast is exact and cannot saturate.
    Ok((w * 1e6).round() as u64)
}

/// Integer percentages proportional to `weights` (in [`weight_units`]), summing to
/// 100 (largest remainder); `None` when every weight is 0.
pub(crate) fn percentages(weights: &BTreeMap<String, u64>) -> Option<TrafficSplit> {
    TrafficSplit::proportional(weights.iter().map(|(t, w)| (t.clone(), *w)))
}

/// The split of the traffic no region singles out (`default_pools`).
pub(crate) fn default_split(view: &LbView, pools: &Pools) -> Result<TrafficSplit, ProviderError> {
    match view.effective_policy() {
        "random" => {
            let mut weights: BTreeMap<String, u64> = BTreeMap::new();
            for id in &view.default_pools {
                let w = match view.pool_weights.get(id) {
                    Some(w) => weight_units(&format!("random_steering.pool_weights.{id}"), *w)?,
                    None => weight_units("random_steering.default_weight", view.default_weight)?,
                };
                match pools.target_of(id) {
                    // At most 1e6 per pool: the sum cannot overflow.
                    Some(t) => *weights.entry(t.to_string()).or_insert(0) += w,
                    None if w > 0 => {
                        return Err(conflict(format!(
                            "random steering gives weight {} to pool `{id}`, which is not a target",
                            w as f64 / 1e6
                        )));
                    }
                    None => {}
                }
            }
            percentages(&weights)
                .ok_or_else(|| conflict("random steering gives every default pool weight 0"))
        }
        "off" | "geo" => {
            let first = view
                .default_pools
                .first()
                .ok_or_else(|| conflict("the load balancer has no default_pools"))?;
            pools
                .target_of(first)
                .map(TrafficSplit::all_to)
                .ok_or_else(|| {
                    conflict(format!(
                        "the first default pool `{first}` is not one of the router's target pools"
                    ))
                })
        }
        other => Err(conflict(format!(
            "steering_policy `{other}` has no fixed split; dr manages `off`, `geo` and `random`"
        ))),
    }
}

/// Where a region's traffic goes.
#[derive(Debug, PartialEq)]
pub(crate) enum RegionSource {
    /// It follows the default pools.
    Default,
    /// Its first region pool is this target's pool.
    Target(String),
    /// Its first region pool is the region's scoped pool (read its origins).
    Scoped(String),
}

/// Which pools serve `region` under the current steering.
pub(crate) fn region_source(
    view: &LbView,
    pools: &Pools,
    region: &str,
) -> Result<RegionSource, ProviderError> {
    if view.effective_policy() != "geo" {
        return Ok(RegionSource::Default);
    }
    let Some(first) = view.region_pools.get(region).and_then(|l| l.first()) else {
        return Ok(RegionSource::Default);
    };
    if pools.scoped.get(region) == Some(first) {
        return Ok(RegionSource::Scoped(first.clone()));
    }
    pools
        .target_of(first)
        .map(|t| RegionSource::Target(t.to_string()))
        .ok_or_else(|| {
            conflict(format!(
                "region `{region}` is served first by pool `{first}`, which is neither a target nor its scoped pool"
            ))
        })
}

/// The split of a scoped pool's origins, named `TARGET.ORIGIN` by [`scoped_origins`].
pub(crate) fn origin_split(pool: &Value, pools: &Pools) -> Result<TrafficSplit, ProviderError> {
    let mut weights: BTreeMap<String, u64> = BTreeMap::new();
    for o in pool
        .get("origins")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let enabled = o.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        let name = o.get("name").and_then(Value::as_str).unwrap_or("");
        let weight = weight_units(
            &format!("origin `{name}`"),
            o.get("weight").and_then(Value::as_f64).unwrap_or(1.0),
        )?;
        if !enabled || weight == 0 {
            continue;
        }
        let target = pools
            .targets
            .keys()
            .filter(|t| name.starts_with(&format!("{t}.")))
            .max_by_key(|t| t.len())
            .ok_or_else(|| {
                conflict(format!(
                    "origin `{name}` of the scoped pool is not named `TARGET.ORIGIN` after one of the targets"
                ))
            })?;
        let sum = weights.entry(target.clone()).or_insert(0);
        *sum = sum.saturating_add(weight);
    }
    percentages(&weights).ok_or_else(|| conflict("the scoped pool has no enabled, weighted origin"))
}

/// The origins that make a scoped pool divide its traffic as `split` says: each
/// target's enabled origins, renamed `TARGET.ORIGIN`, sharing the target's weight in
/// hundredths (Cloudflare's origin-weight step) in proportion to their own weights.
pub(crate) fn scoped_origins(
    split: &TrafficSplit,
    target_pools: &BTreeMap<String, Value>,
) -> Result<Vec<Value>, ProviderError> {
    let mut out = Vec::new();
    for (target, percent) in split.iter() {
        let pool = &target_pools[target];
        let origins: Vec<&Value> = pool
            .get("origins")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|o| o.get("enabled").and_then(Value::as_bool).unwrap_or(true))
            .filter(|o| o.get("weight").and_then(Value::as_f64).unwrap_or(1.0) > 0.0)
            .collect();
        if origins.is_empty() {
            return Err(conflict(format!(
                "target `{target}`'s pool has no enabled origin to put in the scoped pool"
            )));
        }
        let parts = origins
            .iter()
            .map(|o| {
                weight_units(
                    &format!("origin of target `{target}`'s pool"),
                    o.get("weight").and_then(Value::as_f64).unwrap_or(1.0),
                )
            })
            .collect::<Result<Vec<u64>, _>>()?;
        for (o, hundredths) in origins.iter().zip(apportion(u64::from(percent), &parts)) {
            if hundredths == 0 {
                continue;
            }
            let mut copy: Map<String, Value> = Map::new();
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .or_else(|| o.get("address").and_then(Value::as_str))
                .unwrap_or("origin");
            copy.insert("name".into(), json!(format!("{target}.{name}")));
            for key in ["address", "header", "virtual_network_id"] {
                if let Some(v) = o.get(key) {
                    copy.insert(key.into(), v.clone());
                }
            }
            copy.insert("enabled".into(), json!(true));
            copy.insert("weight".into(), json!(hundredths as f64 / 100.0));
            out.push(Value::Object(copy));
        }
    }
    Ok(out)
}

/// Whether a pool's live origins already are `wanted` (comparing the fields we write).
pub(crate) fn same_origins(pool: &Value, wanted: &[Value]) -> bool {
    let live: Vec<&Value> = pool
        .get("origins")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    live.len() == wanted.len()
        && live.iter().zip(wanted).all(|(a, b)| {
            ["name", "address", "header", "virtual_network_id"]
                .iter()
                .all(|k| a.get(*k) == b.get(*k))
                && a.get("enabled").and_then(Value::as_bool).unwrap_or(true)
                    == b.get("enabled").and_then(Value::as_bool).unwrap_or(true)
                && (a.get("weight").and_then(Value::as_f64).unwrap_or(1.0)
                    - b.get("weight").and_then(Value::as_f64).unwrap_or(1.0))
                .abs()
                    < 1e-9
        })
}

/// `default_pools` reordered: `split`'s targets by weight (largest first), then the
/// remaining pools in their current order, then target pools not yet listed.
fn ordered_defaults(view: &LbView, pools: &Pools, split: &TrafficSplit) -> Vec<String> {
    let mut existing: Vec<String> = view.default_pools.clone();
    for id in pools.targets.values() {
        if !existing.contains(id) {
            existing.push(id.clone());
        }
    }
    let pos = |id: &String| existing.iter().position(|x| x == id).unwrap_or(usize::MAX);
    let mut weighted: Vec<(u32, String)> = split
        .iter()
        .map(|(t, w)| (w, pools.pool_of(t).to_string()))
        .collect();
    weighted.sort_by(|a, b| b.0.cmp(&a.0).then(pos(&a.1).cmp(&pos(&b.1))));
    let mut out: Vec<String> = weighted.into_iter().map(|(_, id)| id).collect();
    for id in existing {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn region_pools_json(map: &BTreeMap<String, Vec<String>>) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// The load-balancer PATCH body that makes `split` the split of *all* traffic, or
/// `None` when it is already in place.
///
/// One target: `steering_policy = "off"`, that pool first in `default_pools`.
/// Several: `steering_policy = "random"` with `random_steering.pool_weights` =
/// weight / 100 per target pool and `default_weight = 0` (pools that are not
/// targets get nothing). Both ignore region pools, so every region, scoped or
/// not, gets the split; the entries this router owns in `region_pools` are removed
/// so a later `geo` policy does not revive a stale region split.
pub(crate) fn unscoped_patch(view: &LbView, pools: &Pools, split: &TrafficSplit) -> Option<Value> {
    let defaults = ordered_defaults(view, pools, split);
    let mut regions = view.region_pools.clone();
    for r in pools.scoped.keys() {
        regions.remove(r);
    }
    let single = split.iter().count() == 1;
    let policy = if single { "off" } else { "random" };
    let weights: BTreeMap<String, f64> = pools
        .targets
        .iter()
        .map(|(t, id)| (id.clone(), f64::from(split.weight(t)) / 100.0))
        .collect();
    let in_place = view.policy == policy
        && view.default_pools == defaults
        && view.region_pools == regions
        && (single
            || (view.default_weight == 0.0
                && weights.iter().all(|(id, w)| {
                    view.pool_weights
                        .get(id)
                        .is_some_and(|x| (x - w).abs() < 1e-9)
                })));
    if in_place {
        return None;
    }
    let mut body = json!({
        "steering_policy": policy,
        "default_pools": defaults,
        "region_pools": region_pools_json(&regions),
    });
    if !single {
        body["random_steering"] = json!({ "default_weight": 0.0, "pool_weights": weights });
    }
    Some(body)
}

/// What a scoped apply must write.
#[derive(Debug, PartialEq)]
pub(crate) struct ScopedPlan {
    /// Origins to PATCH into the region's scoped pool first (weighted splits only).
    pub fill_scoped_pool: bool,
    /// The load-balancer PATCH body, `None` when the load balancer is already right.
    pub lb_patch: Option<Value>,
}

/// Plans a split of `region`'s traffic, leaving every other region alone.
///
/// The rest of the traffic must be on one target (`geo` serves non-region traffic
/// from `default_pools` in failover order, so it cannot be weighted at the same time).
/// The region's split equal to that target's: the region's entry is removed (it
/// follows the default pools). One other target: `region_pools[region]` = that pool,
/// then the default order. Weighted: `region_pools[region]` = the scoped pool, then
/// the default order; the caller fills the scoped pool with [`scoped_origins`].
pub(crate) fn scoped_plan(
    view: &LbView,
    pools: &Pools,
    region: &str,
    split: &TrafficSplit,
) -> Result<ScopedPlan, ProviderError> {
    let rest = default_split(view, pools)?;
    let mut rest_targets = rest.targets();
    let (Some(rest_target), None) = (rest_targets.next(), rest_targets.next()) else {
        return Err(conflict(format!(
            "a split of region `{region}` needs the rest of the traffic on one target, but it is \
             split ({rest}); finish the unscoped shift first"
        )));
    };
    let rest_all = TrafficSplit::all_to(rest_target);
    let mut regions = view.region_pools.clone();
    if split.same_as(&rest_all) {
        if regions.remove(region).is_none() {
            return Ok(ScopedPlan {
                fill_scoped_pool: false,
                lb_patch: None,
            });
        }
        return Ok(ScopedPlan {
            fill_scoped_pool: false,
            lb_patch: Some(json!({ "region_pools": region_pools_json(&regions) })),
        });
    }
    let defaults = ordered_defaults(view, pools, &rest_all);
    let weighted = split.iter().count() > 1;
    let first = if weighted {
        pools.scoped[region].clone()
    } else {
        pools
            .pool_of(split.targets().next().unwrap_or_default())
            .to_string()
    };
    let mut list = vec![first.clone()];
    list.extend(defaults.iter().filter(|id| **id != first).cloned());
    regions.insert(region.to_string(), list);
    let in_place =
        view.policy == "geo" && view.default_pools == defaults && view.region_pools == regions;
    Ok(ScopedPlan {
        fill_scoped_pool: weighted,
        lb_patch: (!in_place).then(|| {
            json!({
                "steering_policy": "geo",
                "default_pools": defaults,
                "region_pools": region_pools_json(&regions),
            })
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools() -> Pools {
        Pools {
            targets: [("east", "pe"), ("west", "pw")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            scoped: [("WNAM".to_string(), "ps".to_string())]
                .into_iter()
                .collect(),
        }
    }

    fn split(pairs: &[(&str, u32)]) -> TrafficSplit {
        TrafficSplit::from_pairs(pairs.iter().map(|(t, w)| (*t, *w)))
    }

    #[test]
    fn percentages_sum_to_100() {
        let w: BTreeMap<String, u64> = [("a", 1), ("b", 1), ("c", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let s = percentages(&w).unwrap();
        assert_eq!(s.total(), 100);
        assert_eq!(apportion(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(apportion(7, &[0, 5]), vec![0, 7]);
    }

    #[test]
    fn huge_or_odd_weights_are_refused_by_name_not_overflowed() {
        for w in [1e300, f64::MAX, 1.5, -0.1] {
            let v = LbView::from_json(&json!({
                "steering_policy": "random", "default_pools": ["pw", "pe"],
                "random_steering": {"default_weight": 0.0, "pool_weights": {"pe": w, "pw": w}}
            }));
            let e = default_split(&v, &pools()).unwrap_err();
            assert!(
                e.message().contains("outside the documented range 0 to 1")
                    && e.message().contains("pool_weights.p"),
                "{w}: {e}"
            );
        }
        let pool = json!({"origins": [
            {"name": "east.a", "weight": 1e300}, {"name": "west.b", "weight": 1e300}
        ]});
        let e = origin_split(&pool, &pools()).unwrap_err();
        assert!(e.message().contains("origin `east.a`"), "{e}");
    }

    proptest::proptest! {
        /// Whatever weights a load balancer answer carries, reading its split
        /// either gives a split summing to 100 or a named error; it never panics.
        #[test]
        fn any_random_steering_answer_reads_without_panicking(
            pe in proptest::num::f64::ANY,
            pw in proptest::num::f64::ANY,
            default in proptest::num::f64::ANY,
        ) {
            let v = LbView::from_json(&json!({
                "steering_policy": "random", "default_pools": ["pw", "pe", "other"],
                "random_steering": {"default_weight": default, "pool_weights": {"pe": pe, "pw": pw}}
            }));
            if let Ok(s) = default_split(&v, &pools()) {
                proptest::prop_assert_eq!(s.total(), 100);
            }
            let pool = json!({"origins": [
                {"name": "east.a", "weight": pe}, {"name": "west.b", "weight": pw}
            ]});
            if let Ok(s) = origin_split(&pool, &pools()) {
                proptest::prop_assert_eq!(s.total(), 100);
            }
        }
    }

    #[test]
    fn empty_policy_means_geo_only_with_geo_maps() {
        let mut v = LbView::from_json(&json!({"default_pools": ["pe", "pw"]}));
        assert_eq!(v.effective_policy(), "off");
        v.region_pools.insert("WNAM".into(), vec!["pw".into()]);
        assert_eq!(v.effective_policy(), "geo");
        assert_eq!(
            default_split(&v, &pools()).unwrap(),
            TrafficSplit::all_to("east")
        );
        assert_eq!(
            region_source(&v, &pools(), "WNAM").unwrap(),
            RegionSource::Target("west".into())
        );
    }

    #[test]
    fn random_weights_read_back_as_percentages() {
        let v = LbView::from_json(&json!({
            "steering_policy": "random", "default_pools": ["pw", "pe"],
            "random_steering": {"default_weight": 0.0, "pool_weights": {"pe": 0.2, "pw": 0.8}}
        }));
        assert_eq!(
            default_split(&v, &pools()).unwrap(),
            split(&[("east", 20), ("west", 80)])
        );
        // Under random, region pools are ignored: WNAM follows the default split.
        assert_eq!(
            region_source(&v, &pools(), "WNAM").unwrap(),
            RegionSource::Default
        );
    }

    #[test]
    fn unscoped_patch_is_none_once_in_place() {
        let v = LbView::from_json(&json!({
            "steering_policy": "geo", "default_pools": ["pe", "pw"],
            "region_pools": {"WNAM": ["ps", "pe", "pw"], "WEU": ["pe"]}
        }));
        let p = unscoped_patch(&v, &pools(), &TrafficSplit::all_to("west")).unwrap();
        assert_eq!(
            p,
            json!({"steering_policy": "off", "default_pools": ["pw", "pe"],
                   "region_pools": {"WEU": ["pe"]}})
        );
        let mut after = v.clone();
        after.policy = "off".into();
        after.default_pools = vec!["pw".into(), "pe".into()];
        after.region_pools.remove("WNAM");
        assert_eq!(
            unscoped_patch(&after, &pools(), &TrafficSplit::all_to("west")),
            None
        );
    }

    #[test]
    fn scoped_split_refuses_a_weighted_rest() {
        let v = LbView::from_json(&json!({
            "steering_policy": "random", "default_pools": ["pw", "pe"],
            "random_steering": {"default_weight": 0.0, "pool_weights": {"pe": 0.5, "pw": 0.5}}
        }));
        let e =
            scoped_plan(&v, &pools(), "WNAM", &split(&[("east", 90), ("west", 10)])).unwrap_err();
        assert_eq!(e.kind(), &dr_core::ErrorKind::Conflict);
    }

    #[test]
    fn scoped_origins_share_each_targets_weight_in_hundredths() {
        let tp: BTreeMap<String, Value> = [
            (
                "east".to_string(),
                json!({"origins": [{"name": "e1", "address": "192.0.2.1"},
                                   {"name": "e2", "address": "192.0.2.2", "weight": 0.5},
                                   {"name": "e3", "address": "192.0.2.3", "enabled": false}]}),
            ),
            (
                "west".to_string(),
                json!({"origins": [{"name": "w1", "address": "198.51.100.1"},
                                   {"name": "w2", "address": "198.51.100.2"},
                                   {"name": "w3", "address": "198.51.100.3"}]}),
            ),
        ]
        .into_iter()
        .collect();
        let o = scoped_origins(&split(&[("east", 90), ("west", 10)]), &tp).unwrap();
        let w: Vec<(String, f64)> = o
            .iter()
            .map(|x| {
                (
                    x["name"].as_str().unwrap().to_string(),
                    x["weight"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            w,
            vec![
                ("east.e1".into(), 0.6),
                ("east.e2".into(), 0.3),
                ("west.w1".into(), 0.04),
                ("west.w2".into(), 0.03),
                ("west.w3".into(), 0.03),
            ]
        );
        let back = origin_split(&json!({ "origins": o }), &pools()).unwrap();
        assert_eq!(back, split(&[("east", 90), ("west", 10)]));
    }
}

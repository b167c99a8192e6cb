//! `[plan.after]`: probes that name probe resources, `for` and `every`.

use super::{Use, Validator, key};
use crate::plan::model::{After, AfterTable};
use crate::plan::source::{Node, Seg};

fn at(k: &str) -> Vec<Seg> {
    vec![key("plan"), key("after"), key(k)]
}

impl Validator<'_> {
    /// The typed `[plan.after]`, with its probes recorded as probe uses (so
    /// unknown resources and resources that are no probe are reported where
    /// they are named); `None` when it is invalid.
    pub(super) fn check_after(
        &mut self,
        root: &Node,
        a: AfterTable,
        uses: &mut Vec<Use>,
    ) -> Option<After> {
        let mut ok = self.check_probe_list(root, "after", &a.probes, "the new side's health", uses);
        let (window, every) = (a.window.0, a.every.0);
        for (k, d) in [("for", window), ("every", every)] {
            if d.is_zero() {
                ok = false;
                self.err(root, &at(k), false, format!("{k} must be more than 0"));
            }
        }
        if every > window {
            ok = false;
            self.err(
                root,
                &at("every"),
                false,
                format!(
                    "every ({}) must be at most for ({}): the window needs at least one round",
                    crate::format_duration(every),
                    crate::format_duration(window)
                ),
            );
        }
        ok.then_some(After {
            probes: a.probes,
            window,
            every,
        })
    }
}

impl Validator<'_> {
    /// The typed `[plan.notify]`: at least one event and one target, each
    /// target's `url` a URL; `None` when it is invalid.
    pub(super) fn check_notify_table(
        &mut self,
        root: &Node,
        n: crate::plan::model::NotifyTable,
    ) -> Option<crate::plan::model::PlanNotify> {
        use crate::plan::model::{NotifyTarget, PlanNotify};
        let at = |k: &str| vec![key("plan"), key("notify"), key(k)];
        let mut ok = true;
        for (k, empty) in [("on", n.on.is_empty()), ("targets", n.targets.is_empty())] {
            if empty {
                ok = false;
                self.err(root, &at(k), false, format!("{k} must not be empty"));
            }
        }
        let mut targets = Vec::new();
        for (i, t) in n.targets.into_iter().enumerate() {
            let format = t.format.unwrap_or_default();
            let field = |k: &str| {
                let mut path = at("targets");
                path.extend([Seg::Index(i), key(k)]);
                path
            };
            let pagerduty = format == crate::plan::NotifyFormat::Pagerduty;
            let url = match (t.url, pagerduty) {
                (Some(u), _) => u,
                (None, true) => crate::plan::PAGERDUTY_EVENTS_URL.to_string(),
                (None, false) => {
                    ok = false;
                    self.err(
                        root,
                        &at("targets"),
                        false,
                        format!(
                            "target {i} has no `url` (only a `pagerduty` target has a default)"
                        ),
                    );
                    String::new()
                }
            };
            if !url.is_empty()
                && reqwest::Url::parse(&url)
                    .ok()
                    .is_none_or(|u| !matches!(u.scheme(), "http" | "https"))
            {
                ok = false;
                self.err(root, &field("url"), false, "not an http or https URL");
            }
            let routing_key = t.routing_key.filter(|k| !k.trim().is_empty());
            match (pagerduty, &routing_key) {
                (true, None) => {
                    ok = false;
                    self.err(
                        root,
                        &at("targets"),
                        false,
                        format!(
                            "target {i} (format = \"pagerduty\") needs `routing_key`, the \
                             integration key of its PagerDuty service (write it as ${{env:VAR}})"
                        ),
                    );
                }
                (false, Some(_)) => {
                    ok = false;
                    self.err(
                        root,
                        &field("routing_key"),
                        false,
                        format!(
                            "routing_key is for format = \"pagerduty\", not \"{}\"",
                            format.as_str()
                        ),
                    );
                }
                _ => {}
            }
            targets.push(NotifyTarget {
                url,
                headers: t.headers.unwrap_or_default(),
                format,
                routing_key,
            });
        }
        let mut on = n.on;
        on.dedup();
        ok.then_some(PlanNotify { on, targets })
    }
}

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

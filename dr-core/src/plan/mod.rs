//! Plans: the file format, its validation and the typed model.
//!
//! [`Plan::load`] parses a TOML (or JSON) plan, substitutes `${env:VAR}`
//! references, decodes every table, builds every resource through the
//! [`Registry`](crate::Registry) and checks every step against what its
//! provider can do. It returns every problem it finds at once, each as a
//! [`Diagnostic`] with file, line, column and key; nothing runs while there is one.

mod children;
mod graph;
mod interp;
mod load;
mod model;
mod oneway;
mod source;
mod validate;

pub use load::LoadOptions;
pub use model::{
    After, BUILTIN_ACTIONS, Gate, NotifyEvent, NotifyFormat, NotifyTarget, OnFailure,
    PAGERDUTY_EVENTS_URL, Plan, PlanNotify, Resource, Safety, Step, StepAction, Ungraceful, Watch,
    WatchMode, json_schema,
};
pub use source::{Diagnostic, Diagnostics, SourceFile};

//! The live progress view on a terminal: one line per running step (spinner,
//! phase bar, retries, gate countdown); finished steps scroll above it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use dr_core::executor::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::out::outln;
use crate::render::{event_line, ms, t};
use crate::terminal::Palette;

/// Renders events as live progress bars on stdout.
#[derive(Debug)]
pub struct ProgressView {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    palette: Palette,
}

impl ProgressView {
    pub fn new(palette: Palette) -> Self {
        ProgressView {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: Mutex::new(HashMap::new()),
            palette,
        }
    }

    /// The bars, to hide them while a prompt is on screen.
    pub fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }

    fn spinner_style(&self) -> ProgressStyle {
        let t = if self.palette_on() {
            "  {spinner:.cyan} {prefix:.bold} {msg} {elapsed:.dim}"
        } else {
            "  {spinner} {prefix} {msg} {elapsed}"
        };
        ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    fn bar_style(&self) -> ProgressStyle {
        let t = if self.palette_on() {
            "  {spinner:.cyan} {prefix:.bold} [{bar:20.green/dim}] {pos:>3}% {msg}"
        } else {
            "  {spinner} {prefix} [{bar:20}] {pos:>3}% {msg}"
        };
        ProgressStyle::with_template(t)
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
    }

    fn palette_on(&self) -> bool {
        self.palette.green("x") != "x"
    }

    /// Prints a line above the bars.
    pub fn println(&self, line: &str) {
        if self.bars.lock().expect("progress lock").is_empty() {
            outln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    fn line(&self, e: &Event) {
        self.println(&event_line(e, self.palette));
    }

    fn with_bar(&self, step: &str, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bars.lock().expect("progress lock").get(step) {
            f(bar);
        }
    }

    /// Shows one event.
    pub fn handle(&self, e: &Event) {
        match e {
            Event::StepStarted { step, action } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.spinner_style());
                bar.set_prefix(t(step).into_owned());
                bar.set_message(t(action).into_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                self.bars
                    .lock()
                    .expect("progress lock")
                    .insert(step.clone(), bar);
            }
            Event::PhaseApplied { step, phase, split } => self.with_bar(step, |bar| {
                if bar.length().is_none() {
                    bar.set_length(100);
                    bar.set_style(self.bar_style());
                }
                bar.set_position(u64::from(*phase));
                bar.set_message(t(&split.to_string()).into_owned());
            }),
            Event::GateWaiting {
                step,
                probe,
                status,
                consecutive,
                needed,
                remaining_ms,
            } => self.with_bar(step, |bar| {
                bar.set_message(format!(
                    "gate {}: {} ({consecutive}/{needed}), {} left",
                    t(probe),
                    t(status),
                    ms(*remaining_ms)
                ))
            }),
            Event::GatePassed { step, probe } => self.with_bar(step, |bar| {
                bar.set_message(format!("gate {} passed", t(probe)))
            }),
            Event::Retrying {
                step,
                operation,
                attempt,
                delay_ms,
                ..
            } => {
                self.line(e);
                self.with_bar(step, |bar| {
                    bar.set_message(format!(
                        "{}: retry {} in {}",
                        t(operation),
                        attempt + 1,
                        ms(*delay_ms)
                    ))
                });
            }
            Event::StepFinished { step, .. } => {
                if let Some(bar) = self.bars.lock().expect("progress lock").remove(step) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                self.line(e);
            }
            Event::RunFinished { .. } => {
                for (_, bar) in self.bars.lock().expect("progress lock").drain() {
                    bar.finish_and_clear();
                }
                let _ = self.multi.clear();
                outln!("{}", event_line(e, self.palette));
            }
            Event::RunStarted { .. } => outln!("{}", event_line(e, self.palette)),
            _ => self.line(e),
        }
    }
}

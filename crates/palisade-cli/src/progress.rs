//! What the user sees on stderr while work takes time: an indicatif spinner naming the
//! phase (and a count where one is known), only when stderr is a terminal and `--quiet`
//! is not given; notes (`note: …`) unless `--quiet`. Never on stdout, never in a pipe.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no progress and no notes (warnings and errors still go to stderr).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A remark on stderr (`note: …`), unless `--quiet`.
pub fn note(text: &str) {
    if !quiet() {
        eprintln!("note: {text}");
    }
}

/// A spinner on stderr, or nothing when stderr is not a terminal or `--quiet` is given.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts a spinner with `message`.
    pub fn start(message: &str) -> Progress {
        if quiet() || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"));
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    /// Says what is being done now (the cluster reader's page counts).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub fn set(&self, message: &str) {
        if let Some(b) = &self.bar {
            b.set_message(message.to_string());
        }
    }

    /// Removes the spinner (the output that follows starts on a clean line).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

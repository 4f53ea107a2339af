//! Shows a [`Progress`] to a person: an indicatif spinner line on a terminal, plain lines (one
//! per change) when stdout is a pipe or a file, and a closing summary. `watch` uses it with the
//! Step Functions history; the local runner can use it with the engine's.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::Progress;

/// Where progress goes.
pub(crate) trait ProgressView {
    /// Shows the current progress; `hint` is an extra instruction (e.g. how to approve).
    fn show(&mut self, progress: &Progress, hint: Option<&str>);
    /// Shows the end: status and summary.
    fn finish(&mut self, progress: &Progress);
}

/// The line `show` prints: the progress line and the hint.
pub(crate) fn line(progress: &Progress, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{} — {hint}", progress.status_line()),
        None => progress.status_line(),
    }
}

/// Progress on stdout: a spinner on a terminal, plain lines otherwise.
pub(crate) struct TerminalView {
    spinner: Option<ProgressBar>,
    last: String,
}

impl TerminalView {
    pub(crate) fn for_stdout() -> Self {
        let spinner = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            spinner,
            last: String::new(),
        }
    }
}

impl ProgressView for TerminalView {
    fn show(&mut self, progress: &Progress, hint: Option<&str>) {
        let text = line(progress, hint);
        if text == self.last {
            return;
        }
        match &self.spinner {
            Some(bar) => {
                // Keep a trace of each phase above the spinner.
                if progress.phase.map(|p| p.as_str()) != phase_of_line(&self.last) {
                    bar.println(&text);
                }
                bar.set_message(text.clone());
            }
            None => println!("{text}"),
        }
        self.last = text;
    }

    fn finish(&mut self, progress: &Progress) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
        println!("{}", progress.summary_line());
    }
}

fn phase_of_line(line: &str) -> Option<&str> {
    line.split(" · ").next().filter(|p| !p.is_empty())
}

#[cfg(test)]
pub(crate) mod recording {
    use super::*;

    /// A view that keeps what it was shown, for tests.
    #[derive(Debug, Default)]
    pub(crate) struct RecordingView {
        pub lines: Vec<String>,
        pub finished: Option<Progress>,
    }

    impl ProgressView for RecordingView {
        fn show(&mut self, progress: &Progress, hint: Option<&str>) {
            let text = line(progress, hint);
            if self.lines.last() != Some(&text) {
                self.lines.push(text);
            }
        }

        fn finish(&mut self, progress: &Progress) {
            self.finished = Some(progress.clone());
        }
    }
}

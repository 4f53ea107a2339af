//! What the local runs print at the end: per-phase durations (phases as the progress view
//! names them), where the time went (step handlers, waits, the engine's overhead) and the
//! state transitions with their Step Functions Standard cost.

use asl_engine::HistoryEvent;
use aurora_local::demo::PhaseTime;
use aurora_local::timing::Timing;

use crate::progress::{cost_usd, Event, Progress};

/// Time spent in each phase, in the order the phases were first entered. A phase lasts from
/// the first state of it entered to the first state of another phase.
pub(crate) fn phase_durations(history: &[HistoryEvent]) -> Vec<PhaseTime> {
    let mut progress = Progress::new();
    let mut phases: Vec<PhaseTime> = Vec::new();
    let mut current: Option<(String, time::OffsetDateTime)> = None;
    let close = |current: &Option<(String, time::OffsetDateTime)>,
                 at: time::OffsetDateTime,
                 phases: &mut Vec<PhaseTime>| {
        if let Some((phase, since)) = current {
            let ms = (at - *since).whole_microseconds() as f64 / 1000.0;
            match phases.iter_mut().find(|p| &p.phase == phase) {
                Some(p) => p.ms += ms,
                None => phases.push(PhaseTime {
                    phase: phase.clone(),
                    ms,
                }),
            }
        }
    };
    for event in history {
        progress.apply(&Event::from(event));
        let phase = progress.phase.map(|p| p.as_str().to_string());
        if let Some(phase) = phase {
            if current.as_ref().map(|(p, _)| p) != Some(&phase) {
                close(&current, event.timestamp, &mut phases);
                current = Some((phase, event.timestamp));
            }
        }
    }
    if let Some(last) = history.last() {
        close(&current, last.timestamp, &mut phases);
    }
    for p in &mut phases {
        p.ms = (p.ms * 10.0).round() / 10.0;
    }
    phases
}

/// The closing lines after the progress view's own summary.
pub(crate) fn print(history: &[HistoryEvent], transitions: u64, timing: &Timing) {
    println!("phases:");
    for p in phase_durations(history) {
        println!("  {:<12} {:>10.1} ms", p.phase, p.ms);
    }
    println!(
        "time: {:.1} ms wall = {:.1} ms in step handlers + {:.1} ms waiting (Wait states, retry back-off) + {:.1} ms at the approval gate + {:.1} ms orchestration overhead",
        timing.wall_ms, timing.handler_ms, timing.wait_ms, timing.approval_ms, timing.overhead_ms
    );
    println!(
        "state transitions: {transitions} (${:.4} as a Step Functions Standard workflow at $0.025 per 1,000)",
        cost_usd(transitions)
    );
}

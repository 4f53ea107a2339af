//! A picture of the switchover: `aurora-encrypt demo --timeline FILE.svg`. One self-contained
//! SVG drawn with `plotters`, in three parts, times in seconds since the execution started:
//!
//! - **writes**, zoomed on the switchover: from [`BEFORE_FENCE`] before FenceWrites was
//!   scheduled to [`AFTER_SWAP`] after SwapDns succeeded (the whole run when there was no
//!   fence), so that a pause of a few hundred milliseconds is wide enough to see. Acknowledged
//!   writes per bucket as two stacked lanes, `source` above `target` (the host each write went
//!   to), on one scale; the fenced window shaded and labelled `fenced` in both; the longest gap
//!   between acknowledgements that overlaps it marked `gap N ms`;
//! - **fenced steps** over the same zoom: FenceWrites, Drain, Verify and SwapDns, each a shaded,
//!   labelled bar from its first entry to its last exit (Drain's waits included), and a row of
//!   writer errors, one tick each, coloured by kind;
//! - **CDC lag** over the whole run: `lagSeconds` of every PollLatency, PreCheckLag and Drain
//!   result, as the history recorded it. An unknown lag (`null`) is drawn as nothing: the line
//!   breaks there rather than dropping to 0.
//!
//! Every part carries text labels (`source`, `target`, `fenced`, `gap N ms`, the step names),
//! which the SVG holds as `<text>`: a reader, or a test, finds the structure without pixels.

use asl_engine::HistoryEvent;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;
use time::OffsetDateTime;

use crate::checks::{self, Gap};
use crate::timing;
use crate::writers::{Ack, ErrorKind, WriterError};

/// The writes panel starts this long before FenceWrites was scheduled.
pub const BEFORE_FENCE: f64 = 3.0;
/// And ends this long after SwapDns succeeded.
pub const AFTER_SWAP: f64 = 1.0;
/// The steps whose time the source is fenced for, in order.
pub const FENCED_STEPS: [&str; 4] = ["FenceWrites", "Drain", "Verify", "SwapDns"];
/// The states whose results carry `lagSeconds`.
const LAG_STATES: [&str; 3] = ["PollLatency", "PreCheckLag", "Drain"];

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 900;
/// The shade of the fenced window (a test looks for it).
pub const FENCED_FILL: RGBColor = RGBColor(255, 200, 120);
const SOURCE_COLOUR: RGBColor = RGBColor(31, 119, 180);
const TARGET_COLOUR: RGBColor = RGBColor(44, 160, 44);
const GAP_COLOUR: RGBColor = RGBColor(214, 39, 40);
const STEP_COLOURS: [RGBColor; 4] = [
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];
const FONT: &str = "sans-serif";

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Which cluster a write went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Source,
    Target,
}

/// A state's time in the execution, in seconds since it started.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub name: String,
    pub from: f64,
    pub to: f64,
}

/// What the picture shows, in seconds since the execution started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Acknowledged writes, sorted by time.
    pub writes: Vec<(f64, Lane)>,
    pub errors: Vec<(f64, ErrorKind)>,
    /// From FenceWrites scheduled to SwapDns succeeded.
    pub fenced: Option<(f64, f64)>,
    /// The fenced steps that ran, in [`FENCED_STEPS`] order.
    pub steps: Vec<Span>,
    /// The longest gap between acknowledgements overlapping the fenced window: from, to, ms.
    pub gap: Option<(f64, f64, f64)>,
    /// CDC lag in seconds as each lag-reporting result gave it; `None`: unknown.
    pub lag: Vec<(f64, Option<f64>)>,
    /// The execution's length.
    pub run_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the timeline: {0}")]
pub struct TimelineError(String);

impl<E: std::error::Error + Send + Sync + 'static> From<DrawingAreaErrorKind<E>> for TimelineError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Self(e.to_string())
    }
}

fn seconds(from: OffsetDateTime, at: OffsetDateTime) -> f64 {
    (at - from).whole_microseconds() as f64 / 1e6
}

impl Timeline {
    /// The timeline of one execution (`history`) under the writers' load: writes to
    /// `target_host` go in the target lane, every other write in the source lane.
    pub fn new(
        history: &[HistoryEvent],
        acks: &[Ack],
        errors: &[WriterError],
        target_host: Option<&str>,
    ) -> Self {
        let Some(start) = history.first().map(|e| e.timestamp) else {
            return Self::default();
        };
        let end = history.last().map_or(start, |e| e.timestamp);
        let at = |t: OffsetDateTime| seconds(start, t);
        let fence = timing::first_scheduled(history, "FenceWrites");
        let swap = timing::last_succeeded(history, "SwapDns");
        let window = fence.zip(swap).filter(|(f, s)| f <= s);
        // Shaded from the fence going on; the gap is looked for from FenceWrites' start, as
        // the demo's report measures it.
        let fenced = window.map(|(f, s)| (timing::fenced_at(history).unwrap_or(f).min(s), s));
        let times: Vec<_> = acks.iter().map(|a| a.at).collect();
        let gap = window
            .and_then(|(f, s)| checks::longest_gap(&times, f, s))
            .map(|Gap { from, to, ms }| (at(from), at(to), ms));
        Self {
            writes: acks
                .iter()
                .map(|a| {
                    let lane = if Some(a.host.as_str()) == target_host {
                        Lane::Target
                    } else {
                        Lane::Source
                    };
                    (at(a.at), lane)
                })
                .collect(),
            errors: errors.iter().map(|e| (at(e.at), e.kind)).collect(),
            fenced: fenced.map(|(f, s)| (at(f), at(s))),
            steps: spans(history, &FENCED_STEPS)
                .into_iter()
                .map(|(name, from, to)| Span {
                    name,
                    from: at(from),
                    to: at(to),
                })
                .collect(),
            gap,
            lag: lag_samples(history)
                .into_iter()
                .map(|(t, lag)| (at(t), lag))
                .collect(),
            run_seconds: at(end),
        }
    }

    /// The x range of the writes panel and the steps strip (see the module's doc).
    pub fn zoom(&self) -> (f64, f64) {
        let (from, to) = match self.fenced {
            Some((f, s)) => (f - BEFORE_FENCE, s + AFTER_SWAP),
            None => (0.0, self.run_seconds),
        };
        let last = self.writes.last().map_or(to, |w| w.0);
        let from = from.max(0.0);
        let to = to.min(last.max(self.run_seconds)).max(from + 0.1);
        (from, to)
    }

    /// The picture, as SVG text.
    pub fn svg(&self) -> Result<String, TimelineError> {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&root)?;
            root.present()?;
        }
        Ok(out)
    }

    fn draw(&self, root: &Area<'_>) -> Result<(), TimelineError> {
        root.fill(&WHITE)?;
        let (title, rest) = root.split_vertically(36);
        let (lanes, rest) = rest.split_vertically(400);
        let (steps, lag) = rest.split_vertically(200);
        let (source, target) = lanes.split_vertically(200);
        title.draw_text(
            &self.title(),
            &(FONT, 18).into_font().into_text_style(&title),
            (12, 10),
        )?;

        let (x0, x1) = self.zoom();
        let bucket = bucket_seconds(x1 - x0);
        let source_counts = self.counts(Lane::Source, x0, x1, bucket);
        let target_counts = self.counts(Lane::Target, x0, x1, bucket);
        let top = source_counts
            .iter()
            .chain(&target_counts)
            .copied()
            .max()
            .unwrap_or(0)
            .max(1) as f64
            * 1.35;
        let per = format!("{:.0} ms", bucket * 1000.0);
        self.lane(
            &source,
            "source",
            &per,
            Lane::Source,
            &source_counts,
            (x0, x1),
            bucket,
            top,
        )?;
        self.lane(
            &target,
            "target",
            &per,
            Lane::Target,
            &target_counts,
            (x0, x1),
            bucket,
            top,
        )?;
        self.steps_strip(&steps, (x0, x1))?;
        self.lag_panel(&lag, (x0, x1))?;
        Ok(())
    }

    fn title(&self) -> String {
        let mut title = "aurora-encrypt demo: the switchover".to_string();
        if let Some((f, s)) = self.fenced {
            title += &format!(", fenced {:.0} ms", (s - f) * 1000.0);
        }
        if let Some((_, _, ms)) = self.gap {
            title += &format!(", writes paused {ms:.0} ms");
        }
        title
    }

    /// Writes of `lane` per bucket of `bucket` seconds from `x0` up to `x1`.
    fn counts(&self, lane: Lane, x0: f64, x1: f64, bucket: f64) -> Vec<u32> {
        let n = ((x1 - x0) / bucket).ceil().max(1.0) as usize;
        let mut counts = vec![0; n];
        for &(t, l) in &self.writes {
            if l == lane && t >= x0 && t < x1 {
                let i = (((t - x0) / bucket) as usize).min(n - 1);
                counts[i] += 1;
            }
        }
        counts
    }

    #[allow(clippy::too_many_arguments)]
    fn lane(
        &self,
        area: &Area<'_>,
        name: &str,
        per: &str,
        lane: Lane,
        counts: &[u32],
        (x0, x1): (f64, f64),
        bucket: f64,
        top: f64,
    ) -> Result<(), TimelineError> {
        let colour = match lane {
            Lane::Source => SOURCE_COLOUR,
            Lane::Target => TARGET_COLOUR,
        };
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(24)
            .margin_top(6)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_labels(4)
            .y_desc(format!("writes / {per}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_label_formatter(&|v| format!("{v:.1} s"))
            .label_style((FONT, 12))
            .draw()?;
        self.shade_fenced(&mut chart, top)?;
        chart.draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| {
                    let from = x0 + i as f64 * bucket;
                    Rectangle::new(
                        [(from, 0.0), (from + bucket, f64::from(*n))],
                        colour.filled(),
                    )
                }),
        )?;
        let label = format!(
            "{name}: {} acknowledged writes in the run",
            self.writes.iter().filter(|w| w.1 == lane).count()
        );
        chart.draw_series(std::iter::once(Text::new(
            label,
            (x0 + (x1 - x0) * 0.01, top * 0.97),
            (FONT, 15).into_font().color(&colour),
        )))?;
        if let Some((from, to, ms)) = self.gap {
            let y = top * 0.8;
            let style = GAP_COLOUR.stroke_width(2);
            chart.draw_series([
                PathElement::new(vec![(from, 0.0), (from, y)], style),
                PathElement::new(vec![(to, 0.0), (to, y)], style),
                PathElement::new(vec![(from, y), (to, y)], style),
            ])?;
            if lane == Lane::Source {
                chart.draw_series(std::iter::once(Text::new(
                    format!("gap {ms:.0} ms"),
                    (to + (x1 - x0) * 0.005, top * 0.84),
                    (FONT, 15).into_font().color(&GAP_COLOUR),
                )))?;
            }
        }
        Ok(())
    }

    fn shade_fenced(&self, chart: &mut Chart<'_, '_>, top: f64) -> Result<(), TimelineError> {
        if let Some((f, s)) = self.fenced {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(f, 0.0), (s, top)],
                FENCED_FILL.mix(0.5).filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                "fenced",
                (f, top * 0.97),
                (FONT, 13).into_font().color(&RGBColor(160, 90, 0)),
            )))?;
        }
        Ok(())
    }

    fn steps_strip(&self, area: &Area<'_>, (x0, x1): (f64, f64)) -> Result<(), TimelineError> {
        let rows = FENCED_STEPS.len() as f64 + 1.0;
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(24)
            .margin_top(6)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0f64..rows + 0.6)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .y_labels(0)
            .y_desc("fenced steps")
            .x_label_formatter(&|v| format!("{v:.1} s"))
            .label_style((FONT, 12))
            .draw()?;
        // The headroom above the first bar keeps the window's label clear of it.
        self.shade_fenced(&mut chart, rows + 0.6)?;
        for (i, name) in FENCED_STEPS.iter().enumerate() {
            let y = rows - i as f64;
            let colour = STEP_COLOURS[i];
            for span in self.steps.iter().filter(|s| s.name == *name) {
                let to = span.to.max(span.from + (x1 - x0) / 1000.0);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(span.from, y - 0.8), (to, y - 0.2)],
                    colour.mix(0.6).filled(),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{name} {:.0} ms", (span.to - span.from) * 1000.0),
                    (to + (x1 - x0) * 0.005, y - 0.25),
                    (FONT, 13).into_font().color(&colour),
                )))?;
            }
        }
        let visible: Vec<_> = self
            .errors
            .iter()
            .filter(|(t, _)| *t >= x0 && *t <= x1)
            .collect();
        chart.draw_series(visible.iter().map(|(t, kind)| {
            let colour = match kind {
                ErrorKind::ReadOnly => GAP_COLOUR,
                ErrorKind::Connection => RGBColor(90, 90, 90),
                ErrorKind::Other => BLACK,
            };
            PathElement::new(vec![(*t, 0.15), (*t, 0.85)], colour.stroke_width(1))
        }))?;
        chart.draw_series(std::iter::once(Text::new(
            format!(
                "writer errors: {} (red: read-only, grey: connection)",
                visible.len()
            ),
            (x0 + (x1 - x0) * 0.01, 0.98),
            (FONT, 12).into_font(),
        )))?;
        Ok(())
    }

    fn lag_panel(&self, area: &Area<'_>, (z0, z1): (f64, f64)) -> Result<(), TimelineError> {
        let top = self
            .lag
            .iter()
            .filter_map(|(_, l)| *l)
            .fold(1.0f64, f64::max)
            * 1.3;
        let end = self.run_seconds.max(0.1);
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(24)
            .margin_top(20)
            .margin_bottom(6)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .caption(
                "CDC lag over the whole run (PollLatency, PreCheckLag, Drain)",
                (FONT, 14),
            )
            .build_cartesian_2d(0f64..end, 0f64..top)?;
        chart
            .configure_mesh()
            .y_labels(4)
            .y_desc("lag (s)")
            .x_desc("seconds since the execution started")
            .x_label_formatter(&|v| format!("{v:.1} s"))
            .label_style((FONT, 12))
            .draw()?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(z0, 0.0), (z1, top)],
            RGBColor(200, 200, 200).mix(0.25).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            "zoomed above",
            (z0 + end * 0.005, top * 0.97),
            (FONT, 12).into_font().color(&RGBColor(110, 110, 110)),
        )))?;
        self.shade_fenced(&mut chart, top)?;
        for run in known_runs(&self.lag) {
            chart.draw_series(LineSeries::new(
                run.iter().copied(),
                SOURCE_COLOUR.stroke_width(2),
            ))?;
            chart.draw_series(
                run.iter()
                    .map(|p| Circle::new(*p, 3, SOURCE_COLOUR.filled())),
            )?;
        }
        Ok(())
    }
}

/// Consecutive known samples: a line is drawn through each run, none across an unknown one.
fn known_runs(samples: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for (t, lag) in samples {
        match lag {
            Some(l) => runs.last_mut().into_iter().for_each(|r| r.push((*t, *l))),
            None => runs.push(Vec::new()),
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// A round bucket width giving about 100 buckets over `span` seconds.
fn bucket_seconds(span: f64) -> f64 {
    const NICE_MS: [f64; 12] = [
        10.0, 20.0, 25.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
    ];
    let wanted = span * 1000.0 / 100.0;
    NICE_MS
        .iter()
        .copied()
        .find(|ms| *ms >= wanted)
        .unwrap_or(10000.0)
        / 1000.0
}

/// Each Task state named in `names`, from its first entry to its last exit, in `names` order.
fn spans(
    history: &[HistoryEvent],
    names: &[&str],
) -> Vec<(String, OffsetDateTime, OffsetDateTime)> {
    let mut found: Vec<(String, OffsetDateTime, OffsetDateTime)> = Vec::new();
    for event in history {
        let kind = event.event_type.as_str();
        let Some(name) = event.state_name().filter(|n| names.contains(n)) else {
            continue;
        };
        let seen = found.iter_mut().find(|(n, _, _)| n == name);
        match (kind, seen) {
            ("TaskStateEntered", None) => {
                found.push((name.to_string(), event.timestamp, event.timestamp));
            }
            ("TaskStateExited", Some(span)) => span.2 = event.timestamp,
            _ => {}
        }
    }
    found.sort_by_key(|(n, _, _)| names.iter().position(|m| m == n));
    found
}

/// `lagSeconds` from the result of every lag-reporting Task state: `None` where the result
/// says `null` (unknown) or has no number there.
fn lag_samples(history: &[HistoryEvent]) -> Vec<(OffsetDateTime, Option<f64>)> {
    let mut current = "";
    let mut samples = Vec::new();
    for event in history {
        match event.event_type.as_str() {
            "TaskStateEntered" => current = event.state_name().unwrap_or_default(),
            "TaskSucceeded" if LAG_STATES.contains(&current) => {
                let output = event
                    .details
                    .get("output")
                    .and_then(Value::as_str)
                    .and_then(|text| serde_json::from_str::<Value>(text).ok());
                let lag = output
                    .as_ref()
                    .and_then(|o| o.get("lagSeconds"))
                    .and_then(Value::as_f64);
                samples.push((event.timestamp, lag));
            }
            _ => {}
        }
    }
    samples
}

/// The content of every `<text>` element of an SVG (as written, or as a browser serialises it):
/// the labels a reader of the picture checks for.
pub fn text_labels(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>'))
        .filter_map(|(_, rest)| rest.split_once("</text>"))
        .map(|(content, _)| content.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use asl_engine::EventType;
    use serde_json::json;

    fn at(ms: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms)
    }

    fn event(id: u64, ms: i64, event_type: EventType, details: Value) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: id.saturating_sub(1),
            timestamp: at(ms),
            event_type,
            details,
        }
    }

    fn task(history: &mut Vec<HistoryEvent>, name: &str, from: i64, to: i64, output: Value) {
        use EventType::*;
        let id = history.len() as u64 + 1;
        let lambda = json!({"resourceType": "lambda", "resource": "function"});
        history.extend([
            event(id, from, TaskStateEntered, json!({"name": name})),
            event(id + 1, from, TaskScheduled, lambda),
            event(
                id + 2,
                to,
                TaskSucceeded,
                json!({"output": output.to_string()}),
            ),
            event(id + 3, to, TaskStateExited, json!({"name": name})),
        ]);
    }

    /// A switchover at 10 s: fenced from 10.0 to 10.6 s, writes every 10 ms to the source
    /// until 10.05 s and to the target from 10.45 s.
    fn switchover() -> (Vec<HistoryEvent>, Vec<Ack>, Vec<WriterError>) {
        let mut history = vec![event(1, 0, EventType::ExecutionStarted, json!({}))];
        task(
            &mut history,
            "PollLatency",
            1000,
            1010,
            json!({"lagSeconds": 7}),
        );
        task(
            &mut history,
            "PollLatency",
            4000,
            4010,
            json!({"lagSeconds": null}),
        );
        task(
            &mut history,
            "PreCheckLag",
            9000,
            9010,
            json!({"lagSeconds": 0}),
        );
        task(&mut history, "FenceWrites", 10_000, 10_050, json!({}));
        task(
            &mut history,
            "Drain",
            10_050,
            10_200,
            json!({"lagSeconds": 0}),
        );
        task(
            &mut history,
            "Verify",
            10_200,
            10_500,
            json!({"verified": true}),
        );
        task(&mut history, "SwapDns", 10_500, 10_600, json!({}));
        history.push(event(99, 12_000, EventType::ExecutionSucceeded, json!({})));
        let ack = |ms: i64, host: &str| Ack {
            id: Some(ms as u64),
            writer: 0,
            at: at(ms),
            host: host.into(),
        };
        let mut acks: Vec<_> = (0..=1005).map(|i| ack(i * 10, "127.0.0.1")).collect();
        acks.extend((1045..1200).map(|i| ack(i * 10, "127.0.0.2")));
        let errors = vec![WriterError {
            at: at(10_100),
            kind: ErrorKind::ReadOnly,
        }];
        (history, acks, errors)
    }

    #[test]
    fn the_timeline_puts_writes_in_lanes_by_host_and_finds_the_fence_gap_and_lag() {
        let (history, acks, errors) = switchover();
        let t = Timeline::new(&history, &acks, &errors, Some("127.0.0.2"));
        assert_eq!(t.fenced, Some((10.0, 10.6)));
        let (from, to, ms) = t.gap.expect("a gap");
        assert!(
            (from - 10.05).abs() < 1e-9 && (to - 10.45).abs() < 1e-9,
            "{from} {to}"
        );
        assert!((ms - 400.0).abs() < 1e-6);
        assert_eq!(t.writes.iter().filter(|w| w.1 == Lane::Target).count(), 155);
        assert_eq!(
            t.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            FENCED_STEPS
        );
        assert_eq!(
            t.lag.iter().map(|l| l.1).collect::<Vec<_>>(),
            [Some(7.0), None, Some(0.0), Some(0.0)]
        );
        assert_eq!(
            known_runs(&t.lag).len(),
            2,
            "the unknown sample breaks the line"
        );
        assert_eq!(t.zoom(), (7.0, 11.6));
        assert_eq!(t.errors, [(10.1, ErrorKind::ReadOnly)]);
    }

    #[test]
    fn the_svg_labels_its_lanes_the_fenced_window_the_gap_and_the_steps() {
        let (history, acks, errors) = switchover();
        let svg = Timeline::new(&history, &acks, &errors, Some("127.0.0.2"))
            .svg()
            .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        let texts = text_labels(&svg);
        for label in [
            "source: 1006 acknowledged writes in the run",
            "target: 155 acknowledged writes in the run",
            "fenced",
            "gap 400 ms",
            "FenceWrites 50 ms",
            "Drain 150 ms",
            "Verify 300 ms",
            "SwapDns 100 ms",
            "writer errors: 1 (red: read-only, grey: connection)",
        ] {
            assert!(
                texts.iter().any(|t| t == label),
                "{label} missing: {texts:?}"
            );
        }
        assert!(svg.contains(&format!(
            "fill=\"#{:02X}{:02X}{:02X}\"",
            FENCED_FILL.0, FENCED_FILL.1, FENCED_FILL.2
        )));
    }

    #[test]
    fn without_a_fence_there_is_no_window_and_no_gap() {
        let (history, acks, _) = switchover();
        let history: Vec<_> = history
            .into_iter()
            .filter(|e| e.state_name() != Some("SwapDns"))
            .collect();
        let t = Timeline::new(&history, &acks, &[], None);
        assert_eq!((t.fenced, t.gap), (None, None));
        assert!(t.writes.iter().all(|w| w.1 == Lane::Source));
        let texts = text_labels(&t.svg().unwrap());
        assert!(!texts.iter().any(|t| t == "fenced" || t.starts_with("gap ")));
        assert!(texts.iter().any(|t| t.starts_with("source: ")));
    }

    #[test]
    fn buckets_are_round_and_about_a_hundred_to_the_panel() {
        assert_eq!(bucket_seconds(4.6), 0.05);
        assert_eq!(bucket_seconds(1.0), 0.01);
        assert_eq!(bucket_seconds(60.0), 1.0);
    }
}

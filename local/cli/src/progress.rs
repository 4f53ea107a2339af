//! What an execution history says about a migration: its phase, current step, CDC lag, the next
//! irreversible step, a pending approval's task token, and the state transitions it was billed.
//!
//! Pure and shared: `watch`/`approve`/`abort` feed it events read from Step Functions'
//! `GetExecutionHistory`, and the local runner feeds it the engine's history, so both show the
//! same view. Events are taken in the Step Functions JSON shape (`type` plus one
//! `…EventDetails` object whose inputs, outputs and parameters are JSON *text*), which is what
//! the engine's [`asl_engine::HistoryEvent`] serialises to and what
//! `aws stepfunctions get-execution-history` prints.
//!
//! Phases come from state names (see [`phase_of_state`]), so the view follows the definition in
//! statemachine/encrypt-cluster.asl.json without a table to keep in sync with it.

use serde_json::Value;

/// Step Functions Standard workflows cost $0.025 per 1,000 state transitions.
pub(crate) const USD_PER_TRANSITION: f64 = 0.025 / 1000.0;

/// The state that fences writes on the source: downtime starts here.
pub(crate) const FENCE_WRITES: &str = "FenceWrites";
/// The state that points the application's DNS name at the target: not undone by a rollback.
pub(crate) const SWAP_DNS: &str = "SwapDns";
/// The RDS Proxy method's swap (`switchover.method: proxy`).
pub(crate) const SWAP_PROXY: &str = "SwapProxy";
/// The rename method's swap (`switchover.method: rename`).
pub(crate) const RENAME_CLUSTERS: &str = "RenameClusters";
/// The Wait state that holds the switchover until answers cached before the TTL was lowered
/// have expired.
pub(crate) const DNS_TTL_GATE: &str = "DnsTtlGate";
/// The failback window (a Parallel state: its input has `reverse.endsAt`), and the states of
/// its branches, inside which the window stays open.
const FAILBACK_WINDOW: &str = "FailbackWindow";
const WINDOW_STATES: &[&str] = &[
    "WaitOutWindow",
    "AwaitFailbackDecision",
    "FailbackDecision",
    "WaitOutWindowUnanswerable",
    "PollReverse",
    "WaitBeforeReversePoll",
];

/// One history event, in the Step Functions JSON shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub id: u64,
    pub previous_event_id: u64,
    /// The Step Functions event type, e.g. `TaskStateEntered`.
    pub event_type: String,
    /// The event's details object (`stateEnteredEventDetails`, …), or `Null`.
    pub details: Value,
}

impl Event {
    /// Reads an event as Step Functions prints it: `{"id", "previousEventId", "type",
    /// "<…>EventDetails": {…}}`. `None` when `type` or `id` is missing.
    pub(crate) fn from_json(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let event_type = object.get("type")?.as_str()?.to_string();
        let id = object.get("id")?.as_u64()?;
        let previous_event_id = object
            .get("previousEventId")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let details = object
            .iter()
            .find(|(key, _)| key.ends_with("EventDetails"))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        Some(Self {
            id,
            previous_event_id,
            event_type,
            details,
        })
    }

    /// Reads a history written by `--history` (JSON lines) or a JSON array of events, or the
    /// `{"events": […]}` object the AWS CLI prints. Unreadable lines are skipped.
    #[allow(dead_code)]
    pub(crate) fn parse_history(text: &str) -> Vec<Self> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
                let events = value.get("events").unwrap_or(&value);
                if let Some(items) = events.as_array() {
                    return items.iter().filter_map(Self::from_json).collect();
                }
            }
        }
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|value| Self::from_json(&value))
            .collect()
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.details.get(key).and_then(Value::as_str)
    }

    /// The state name of a `…StateEntered`/`…StateExited` event.
    pub(crate) fn state_name(&self) -> Option<&str> {
        self.str_field("name")
    }
}

impl From<&asl_engine::HistoryEvent> for Event {
    fn from(event: &asl_engine::HistoryEvent) -> Self {
        Self {
            id: event.id,
            previous_event_id: event.previous_event_id,
            event_type: event.event_type.as_str().to_string(),
            details: event.details.clone(),
        }
    }
}

/// The operator-facing phases of a migration (DESIGN.md §1), as the functions' `Phase` metric
/// numbers them.
pub(crate) use aurora_core::metrics::Phase;

/// The phase a state belongs to, from words in its name (case-insensitive), first match wins:
///
/// | words in the name                                  | phase         |
/// |----------------------------------------------------|---------------|
/// | failback, reverse, swapback, newcluster, oldcluster, failedback | `failback` |
/// | rollback, rolledback, unfence, revert, undo        | `rolled-back` |
/// | preflight                                          | `preflight`   |
/// | snapshot                                           | `snapshot`    |
/// | restore, binlog                                    | `restore`     |
/// | stopmigration, deletemigration, cleanup, retire    | `cleanup`     |
/// | approv, window, gate, precheck, ready              | `ready`       |
/// | fence, drain, verify, swap, switchover             | `switchover`  |
/// | migration, latency, lag, replicat, cdc             | `replicate`   |
///
/// Other states (most `Notify*`, glue Pass/Choice states) keep the current phase: `None`.
/// A rollback is sticky: `StopMigrationOnRollback`, `CleanupOnRollback` and the rest of the
/// rollback path stay `rolled-back` (see [`Progress::apply`]).
pub(crate) fn phase_of_state(name: &str) -> Option<Phase> {
    const RULES: &[(&[&str], Phase)] = &[
        // The failback window and a failback: before the rollback words, which its
        // UnfenceOldCluster and RevertSwapBack contain.
        (
            &[
                "failback",
                "reverse",
                "swapback",
                "newcluster",
                "oldcluster",
                "failedback",
                "outwindow",
                "windowclosed",
                "windowended",
                "stopforward",
            ],
            Phase::Failback,
        ),
        (
            &["rollback", "rolledback", "unfence", "revert", "undo"],
            Phase::RolledBack,
        ),
        (&["preflight"], Phase::Preflight),
        (&["snapshot"], Phase::Snapshot),
        (&["restore", "binlog"], Phase::Restore),
        (
            &["stopmigration", "deletemigration", "cleanup", "retire"],
            Phase::Cleanup,
        ),
        (
            &["approv", "window", "gate", "precheck", "ready"],
            Phase::Ready,
        ),
        // The parity check, the online verification and the pre-warm run while replicating,
        // before the gate.
        (
            &["checkparity", "verifyonline", "onlineverif", "prewarm"],
            Phase::Replicate,
        ),
        (
            &["fence", "drain", "verify", "swap", "switchover"],
            Phase::Switchover,
        ),
        (
            &["migration", "latency", "lag", "replicat", "cdc"],
            Phase::Replicate,
        ),
    ];
    let lower = name.to_ascii_lowercase();
    RULES
        .iter()
        .find(|(words, _)| words.iter().any(|w| lower.contains(w)))
        .map(|(_, phase)| *phase)
}

/// How the execution stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExecutionStatus {
    Running,
    Succeeded,
    Failed {
        error: Option<String>,
        cause: Option<String>,
    },
    Aborted,
    TimedOut,
}

impl ExecutionStatus {
    /// The Step Functions status name (`RUNNING`, `SUCCEEDED`, …).
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed { .. } => "FAILED",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        *self != ExecutionStatus::Running
    }
}

/// A `.waitForTaskToken` task that has been scheduled and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingApproval {
    pub token: String,
    /// The Task state waiting for the answer.
    pub state_name: String,
    pub scheduled_event_id: u64,
}

/// The migration as the history so far describes it; feed events in order with [`apply`].
///
/// [`apply`]: Progress::apply
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Progress {
    /// `None` until the first state is entered.
    pub phase: Option<Phase>,
    /// The state entered last.
    pub current_step: Option<String>,
    /// The last `lagSeconds` a task reported (`None` until one did, or when it reported null).
    pub lag_seconds: Option<f64>,
    /// The last [`LAG_HISTORY`] lags reported, oldest first (`None`: reported null).
    pub lag_history: Vec<Option<f64>>,
    /// The online verification's last report: rows verified and rows per second.
    pub online_verified: Option<(u64, u64)>,
    /// CheckParity's report: settings compared, and differences `parity.ignore` allowed.
    pub parity: Option<(u64, u64)>,
    pub status: ExecutionStatus,
    /// The execution's output once it succeeded.
    pub output: Option<Value>,
    /// Billed state transitions: states entered plus task retries.
    pub state_transitions: u64,
    /// The highest event id applied; events at or below it are ignored, so a re-read history
    /// can be fed again.
    pub last_event_id: u64,
    pending: Vec<PendingApproval>,
    /// TaskStarted/TaskSubmitted event id → the TaskScheduled event id of its approval.
    links: Vec<(u64, u64)>,
    /// Tasks scheduled since the current state was entered (a second one is a retry).
    scheduled_in_state: u32,
    entered_fence: bool,
    entered_swap: bool,
    rolling_back: bool,
    /// From the execution input: the state that moves the application (`SwapDns` with `dns`,
    /// `SwapProxy` with `proxy`, `RenameClusters` with `switchover.method: rename`), `None`
    /// when there is none.
    swap_step: Option<&'static str>,
    dry_run: bool,
    /// At the DNS TTL gate: until when, and the original TTL it waits out.
    dns_ttl_wait: Option<(String, i64)>,
    /// While the failback window is open: when it closes.
    failback_until: Option<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub(crate) fn new() -> Self {
        Self {
            phase: None,
            current_step: None,
            lag_seconds: None,
            lag_history: Vec::new(),
            online_verified: None,
            parity: None,
            status: ExecutionStatus::Running,
            output: None,
            state_transitions: 0,
            last_event_id: 0,
            pending: Vec::new(),
            links: Vec::new(),
            scheduled_in_state: 0,
            entered_fence: false,
            entered_swap: false,
            rolling_back: false,
            swap_step: Some(SWAP_DNS),
            dry_run: false,
            dns_ttl_wait: None,
            failback_until: None,
        }
    }

    /// The progress after all of `events`.
    pub(crate) fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut progress = Self::new();
        for event in events {
            progress.apply(event);
        }
        progress
    }

    /// Applies one event; returns whether it was new (id above [`Progress::last_event_id`]).
    pub(crate) fn apply(&mut self, event: &Event) -> bool {
        if event.id <= self.last_event_id {
            return false;
        }
        self.last_event_id = event.id;
        let kind = event.event_type.as_str();
        match kind {
            "ExecutionStarted" => self.read_input(event),
            "ExecutionSucceeded" => {
                self.status = ExecutionStatus::Succeeded;
                self.output = event
                    .str_field("output")
                    .and_then(|text| serde_json::from_str(text).ok());
                if !self.rolling_back {
                    self.phase = Some(Phase::Done);
                }
            }
            "ExecutionFailed" => {
                self.status = ExecutionStatus::Failed {
                    error: event.str_field("error").map(str::to_string),
                    cause: event.str_field("cause").map(str::to_string),
                };
            }
            "ExecutionAborted" => self.status = ExecutionStatus::Aborted,
            "ExecutionTimedOut" => self.status = ExecutionStatus::TimedOut,
            "TaskScheduled" | "LambdaFunctionScheduled" | "ActivityScheduled" => {
                self.scheduled_in_state += 1;
                if self.scheduled_in_state > 1 {
                    // Step Functions bills each retry as a transition; the engine counts alike.
                    self.state_transitions += 1;
                }
                if kind == "TaskScheduled" {
                    self.open_approval(event);
                }
            }
            "TaskStarted" | "TaskSubmitted" => {
                if let Some(scheduled) = self.approval_of(event.previous_event_id) {
                    self.links.push((event.id, scheduled));
                }
            }
            "TaskStateExited" => {
                // However its answer was recorded, an approval ends when its state exits.
                let name = event.state_name().unwrap_or_default();
                self.pending.retain(|p| p.state_name != name);
            }
            "TaskSucceeded"
            | "LambdaFunctionSucceeded"
            | "TaskFailed"
            | "TaskTimedOut"
            | "TaskStartFailed"
            | "TaskSubmitFailed"
            | "TaskAborted" => {
                self.close_approval(event.previous_event_id);
                if let Some(verified) = reported_online_verification(event) {
                    self.online_verified = Some(verified);
                }
                if let Some(parity) = reported_parity(event) {
                    self.parity = Some(parity);
                }
                if let Some(lag) = reported_lag(event) {
                    self.lag_seconds = lag;
                    if self.lag_history.len() == LAG_HISTORY {
                        self.lag_history.remove(0);
                    }
                    self.lag_history.push(lag);
                }
            }
            _ if kind.ends_with("StateEntered") => self.enter_state(kind, event),
            _ => {}
        }
        if self.status.is_finished() {
            self.pending.clear();
            if self.rolling_back {
                self.phase = Some(Phase::RolledBack);
            }
        }
        true
    }

    fn read_input(&mut self, event: &Event) {
        let input = event
            .str_field("input")
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        if let Some(input) = input {
            let has = |key: &str| input.get(key).is_some_and(|v| !v.is_null());
            let renames =
                input.pointer("/switchover/method").and_then(Value::as_str) == Some("rename");
            self.swap_step = if renames {
                Some(RENAME_CLUSTERS)
            } else if has("dns") {
                Some(SWAP_DNS)
            } else if has("proxy") {
                Some(SWAP_PROXY)
            } else {
                None
            };
            self.dry_run = input.get("dryRun").and_then(Value::as_bool) == Some(true);
        }
    }

    fn enter_state(&mut self, kind: &str, event: &Event) {
        self.state_transitions += 1;
        self.scheduled_in_state = 0;
        let name = event.state_name().unwrap_or_default().to_string();
        let phase = if kind == "SucceedStateEntered" {
            Some(Phase::Done)
        } else {
            phase_of_state(&name)
        };
        if phase == Some(Phase::RolledBack) {
            self.rolling_back = true;
        }
        if name == FENCE_WRITES {
            self.entered_fence = true;
        }
        if [SWAP_DNS, SWAP_PROXY, RENAME_CLUSTERS].contains(&name.as_str()) {
            self.entered_swap = true;
        }
        if name == FAILBACK_WINDOW {
            self.failback_until = event
                .str_field("input")
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .and_then(|input| Some(input.pointer("/reverse/endsAt")?.as_str()?.to_string()));
        } else if !WINDOW_STATES.contains(&name.as_str()) {
            self.failback_until = None;
        }
        self.dns_ttl_wait = (name == DNS_TTL_GATE)
            .then(|| {
                let input: Value = serde_json::from_str(event.str_field("input")?).ok()?;
                let ttl = input.pointer("/dnsTtl")?;
                Some((
                    ttl.get("switchoverNotBefore")?.as_str()?.to_string(),
                    ttl.get("originalTtlSeconds")?.as_i64()?,
                ))
            })
            .flatten();
        // Rolling back is sticky: the rollback path reuses StopMigration and Cleanup.
        if self.rolling_back {
            self.phase = Some(Phase::RolledBack);
        } else if let Some(phase) = phase {
            self.phase = Some(phase);
        }
        self.current_step = Some(name);
    }

    fn open_approval(&mut self, event: &Event) {
        let resource = event.str_field("resource").unwrap_or_default();
        if !resource.ends_with(".waitForTaskToken") {
            return;
        }
        let token = event
            .str_field("parameters")
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .and_then(|parameters| find_task_token(&parameters));
        if let Some(token) = token {
            self.pending.push(PendingApproval {
                token,
                state_name: self.current_step.clone().unwrap_or_default(),
                scheduled_event_id: event.id,
            });
        }
    }

    /// The TaskScheduled event id of the pending approval that `event_id` is, or follows from.
    fn approval_of(&self, event_id: u64) -> Option<u64> {
        if self
            .pending
            .iter()
            .any(|p| p.scheduled_event_id == event_id)
        {
            return Some(event_id);
        }
        self.links
            .iter()
            .find(|(linked, _)| *linked == event_id)
            .map(|(_, scheduled)| *scheduled)
    }

    /// Closes the approval an ending task event belongs to, following its previous event back
    /// through TaskSubmitted/TaskStarted to the TaskScheduled.
    fn close_approval(&mut self, previous_event_id: u64) {
        if let Some(scheduled) = self.approval_of(previous_event_id) {
            self.pending.retain(|p| p.scheduled_event_id != scheduled);
        } else if self.pending.len() == 1 && previous_event_id == 0 {
            // A history without event links: the only open approval is the one ending.
            self.pending.clear();
        }
    }

    /// The approval waiting for an answer, if any (the most recently scheduled one).
    pub(crate) fn pending_approval(&self) -> Option<&PendingApproval> {
        self.pending.last()
    }

    /// The next step that cannot be taken back by a rollback: `FenceWrites` (downtime starts),
    /// then `SwapDns` or `SwapProxy` (clients move to the target). `None` once both are behind,
    /// when nothing is swapped after the fence, on a dry run, during rollback, or when the run
    /// has ended.
    pub(crate) fn next_irreversible_step(&self) -> Option<&'static str> {
        if self.status.is_finished() || self.rolling_back || self.dry_run {
            return None;
        }
        if !self.entered_fence {
            return Some(FENCE_WRITES);
        }
        if self.entered_swap {
            return None;
        }
        self.swap_step
    }

    /// Whether a rollback state has been entered.
    #[allow(dead_code)] // for the local runner's summary
    pub(crate) fn is_rolling_back(&self) -> bool {
        self.rolling_back
    }

    /// What a Standard workflow bills for the transitions so far, in US dollars.
    pub(crate) fn cost_usd(&self) -> f64 {
        cost_usd(self.state_transitions)
    }

    /// One line for a spinner or a log: `replicate · PollLatency · CDC lag 12 s · next
    /// irreversible: FenceWrites`.
    pub(crate) fn status_line(&self) -> String {
        let mut parts = vec![self.phase.map_or("starting", Phase::as_str).to_string()];
        if let Some(step) = &self.current_step {
            parts.push(step.clone());
        }
        if let Some(lag) = self.lag_seconds {
            let mut part = format!("CDC lag {} s", format_number(lag));
            // While catching up, how the lag has moved over the last polls.
            if self.phase == Some(Phase::Replicate) && self.lag_history.len() > 1 {
                part.push(' ');
                part.push_str(&sparkline(&self.lag_history));
            }
            parts.push(part);
        }
        if let Some((compared, allowed)) = self.parity {
            if matches!(self.phase, Some(Phase::Replicate | Phase::Ready)) {
                parts.push(format!(
                    "parity: {compared} settings compared, {allowed} differences allowed"
                ));
            }
        }
        if let Some((rows, rate)) = self.online_verified {
            if self.phase == Some(Phase::Replicate) {
                parts.push(format!("{rows} rows verified online ({rate} rows/s)"));
            }
        }
        if let Some(until) = &self.failback_until {
            parts.push(format!(
                "failback possible until {until} (`aurora-encrypt failback`; `approve` closes the window)"
            ));
        } else if let Some(pending) = self.pending_approval() {
            parts.push(format!("waiting for approval at {}", pending.state_name));
        }
        if let Some((until, ttl)) = &self.dns_ttl_wait {
            parts.push(format!(
                "waiting until {until} for DNS answers cached before the TTL was lowered ({ttl} s) to expire"
            ));
        }
        if let Some(next) = self.next_irreversible_step() {
            parts.push(format!("next irreversible: {next}"));
        }
        parts.join(" · ")
    }

    /// The closing line: status, phase, transitions and their cost.
    pub(crate) fn summary_line(&self) -> String {
        let mut line = format!(
            "{} (phase {}) after {} state transitions, ${:.4} as a Step Functions Standard workflow ($0.025 per 1,000)",
            self.status.as_str(),
            self.phase.map_or("none", Phase::as_str),
            self.state_transitions,
            self.cost_usd(),
        );
        if let ExecutionStatus::Failed { error, cause } = &self.status {
            line.push_str(&format!(
                "\nerror: {}{}",
                error.as_deref().unwrap_or("unknown"),
                cause
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ));
        }
        line
    }
}

/// What a Standard workflow bills for `transitions` state transitions, in US dollars.
pub(crate) fn cost_usd(transitions: u64) -> f64 {
    transitions as f64 * USD_PER_TRANSITION
}

/// How many reported lags the status line's sparkline shows.
pub(crate) const LAG_HISTORY: usize = 20;

/// One block character per value, `▁` for 0 up to `█` for the largest: a trend at a glance.
/// An unknown value (`None`) is a space, never a low bar.
pub(crate) fn sparkline(values: &[Option<f64>]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    values
        .iter()
        .map(|v| match v {
            Some(v) if v.is_finite() => {
                let level = if max > 0.0 {
                    (v.max(0.0) / max * 7.0).round() as usize
                } else {
                    0
                };
                BLOCKS[level.min(7)]
            }
            _ => ' ',
        })
        .collect()
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The `lagSeconds` a succeeded task reported: `Some(None)` for an explicit null, `None` when
/// the output has no such field. Lambda outputs may be wrapped as `{"Payload": …}`.
fn reported_lag(event: &Event) -> Option<Option<f64>> {
    let output = event
        .str_field("output")
        .and_then(|text| serde_json::from_str::<Value>(text).ok())?;
    let body = output.get("Payload").unwrap_or(&output);
    body.get("lagSeconds").map(Value::as_f64)
}

/// `rowsVerified` and `rowsPerSecond` of an online verification's output.
fn reported_online_verification(event: &Event) -> Option<(u64, u64)> {
    let output = event
        .str_field("output")
        .and_then(|text| serde_json::from_str::<Value>(text).ok())?;
    let body = output.get("Payload").unwrap_or(&output);
    Some((
        body.get("rowsVerified")?.as_u64()?,
        body.get("rowsPerSecond")?.as_u64()?,
    ))
}

/// `compared` and `ignoredCount` of a CheckParity output (it alone reports `ignoredCount`).
fn reported_parity(event: &Event) -> Option<(u64, u64)> {
    let output = event
        .str_field("output")
        .and_then(|text| serde_json::from_str::<Value>(text).ok())?;
    let body = output.get("Payload").unwrap_or(&output);
    Some((
        body.get("compared")?.as_u64()?,
        body.get("ignoredCount")?.as_u64()?,
    ))
}

/// Finds a task token in a `.waitForTaskToken` task's parameters: a string under a key named
/// `TaskToken`, `taskToken` or `token` (any case), at any depth, including inside string values
/// that hold JSON (an SNS `Message` built with `States.JsonToString`).
pub(crate) fn find_task_token(parameters: &Value) -> Option<String> {
    match parameters {
        Value::Object(map) => {
            for (key, value) in map {
                let key = key.to_ascii_lowercase();
                if key == "tasktoken" || key == "token" {
                    if let Some(token) = value.as_str().filter(|t| !t.is_empty()) {
                        return Some(token.to_string());
                    }
                }
            }
            map.values().find_map(find_task_token)
        }
        Value::Array(items) => items.iter().find_map(find_task_token),
        Value::String(text) if text.trim_start().starts_with('{') => {
            serde_json::from_str::<Value>(text)
                .ok()
                .as_ref()
                .and_then(find_task_token)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;

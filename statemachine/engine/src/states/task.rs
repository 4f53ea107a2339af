//! Task: resolves the resource in the registry and calls the handler with the effective
//! parameters, then applies `ResultSelector`/`ResultPath`/`OutputPath`; with Retry and Catch.
//!
//! `TimeoutSeconds` and `HeartbeatSeconds` raise `States.Timeout`. They are deliberately *not*
//! compressed by the time scale: they bound real work (a handler talking to a database, a human
//! approving a token) that does not get faster when waits are compressed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{Entry, Lane, Recovery, Runtime, Step};
use crate::child;
use crate::definition::{Seconds, TaskState};
use crate::error::{names, StatesError};
use crate::history::EventType;
use crate::intrinsics::uuid_v4;
use crate::registry::{integration_pattern, TaskContext};
use crate::retry::RetryCounter;
use crate::tokens::{PendingTask, Signal, TokenBook};

pub(super) async fn run(
    rt: &Arc<Runtime>,
    entry: &Entry<'_>,
    task: &TaskState,
    raw: Value,
    lane: &mut Lane,
) -> Result<Step, StatesError> {
    let (_, waits_for_token) = integration_pattern(&task.resource);
    let mut counter = RetryCounter::default();
    let mut retry_count = 0;
    loop {
        let token = waits_for_token.then(|| rt.with_rng(uuid_v4));
        let mut ctx = rt.context(entry, retry_count);
        if let Some(token) = &token {
            ctx["Task"] = json!({"Token": token});
        }
        let effective = entry.state.input_path.apply(&raw, &ctx)?;
        let parameters = match &task.parameters {
            Some(t) => rt.with_rng(|rng| t.eval(&effective, &ctx, rng))?,
            None => effective.clone(),
        };
        let timeout = seconds(
            task.timeout.as_ref(),
            &effective,
            &ctx,
            "TimeoutSecondsPath",
        )?;
        let heartbeat = seconds(
            task.heartbeat.as_ref(),
            &effective,
            &ctx,
            "HeartbeatSecondsPath",
        )?;
        let attempt = Attempt {
            entry,
            task,
            token,
            timeout,
            heartbeat,
            retry_count,
        };
        match attempt.invoke(rt, parameters, lane).await {
            Ok(result) => {
                return rt.complete(
                    entry.state,
                    task.result_selector.as_ref(),
                    &task.result_path,
                    raw,
                    result,
                    &ctx,
                )
            }
            Err(error) if error.is_terminal() => return Err(error),
            Err(error) => match rt
                .recover(&task.retry, &task.catch, &mut counter, &raw, error)
                .await
            {
                Recovery::Retry => retry_count += 1,
                Recovery::Caught(step) => return Ok(step),
                Recovery::Failed(error) => return Err(error),
            },
        }
    }
}

fn seconds(
    spec: Option<&Seconds>,
    input: &Value,
    ctx: &Value,
    field: &str,
) -> Result<Option<u64>, StatesError> {
    match spec {
        None => Ok(None),
        Some(Seconds::Fixed(n)) => Ok(Some(*n)),
        Some(Seconds::Path(path)) => {
            let value = path
                .eval(input, ctx)
                .map_err(|e| StatesError::runtime(e.to_string()))?;
            value.as_u64().filter(|n| *n > 0).map(Some).ok_or_else(|| {
                StatesError::runtime(format!(
                    "The {field} parameter must reference a positive integer: {path} == {value}"
                ))
            })
        }
    }
}

/// `resourceType`/`resource` as Step Functions splits them in the history.
fn describe(resource: &str) -> (String, String) {
    if let Some((service, action)) = child::service_action(resource) {
        return (service.to_string(), action.to_string());
    }
    if resource.split(':').nth(2) == Some("lambda") && resource.starts_with("arn:") {
        return ("lambda".into(), resource.to_string());
    }
    ("local".into(), resource.to_string())
}

struct Attempt<'a> {
    entry: &'a Entry<'a>,
    task: &'a TaskState,
    token: Option<String>,
    timeout: Option<u64>,
    heartbeat: Option<u64>,
    retry_count: u32,
}

impl Attempt<'_> {
    async fn invoke(
        self,
        rt: &Arc<Runtime>,
        parameters: Value,
        lane: &mut Lane,
    ) -> Result<Value, StatesError> {
        let resource = &self.task.resource;
        let resolved = rt.registry.resolve(resource, &parameters);
        // A registered handler wins; otherwise `states:startExecution` runs a child in-process.
        let child = resolved
            .handler
            .is_none()
            .then(|| child::pattern(resource))
            .flatten();
        if resolved.handler.is_none() && child.is_none() && self.token.is_none() {
            return Err(StatesError::runtime(format!(
                "no handler is registered for the Task resource '{resource}'"
            )));
        }
        let (resource_type, resource_name) = describe(resource);
        let mut scheduled = json!({
            "resourceType": resource_type,
            "resource": resource_name,
            "region": "local",
            "parameters": parameters.to_string(),
        });
        if let Some(t) = self.timeout {
            scheduled["timeoutInSeconds"] = json!(t);
        }
        if let Some(h) = self.heartbeat {
            scheduled["heartbeatInSeconds"] = json!(h);
        }
        rt.record(lane, EventType::TaskScheduled, scheduled);
        let about = json!({"resourceType": resource_type, "resource": resource_name});
        rt.record(lane, EventType::TaskStarted, about.clone());

        // Closes the token however this attempt ends, including when the execution is stopped
        // or a sibling branch fails and this future is dropped mid-wait.
        let _open_token = self
            .token
            .as_ref()
            .map(|token| TokenGuard(&rt.tokens, token.clone()));
        let receiver = self.token.as_ref().map(|token| {
            rt.tokens.open(PendingTask {
                token: token.clone(),
                state_name: self.entry.state.name.clone(),
                resource: resource.clone(),
                parameters: parameters.clone(),
            })
        });
        let context = TaskContext {
            state_name: self.entry.state.name.clone(),
            resource: resource.clone(),
            task_token: self.token.clone(),
            execution_id: rt.execution["Id"].as_str().unwrap_or_default().to_string(),
            retry_count: self.retry_count,
        };
        let heartbeat = self.heartbeat;
        let submitted_details = about.clone();
        let lane_in_work = &mut *lane;
        let work = async move {
            let mut output = Value::Null;
            if let Some(pattern) = child {
                let submitted = |started: &Value| {
                    if pattern != child::Pattern::Start {
                        let mut details = submitted_details;
                        details["output"] = json!(started.to_string());
                        rt.record(lane_in_work, EventType::TaskSubmitted, details);
                    }
                };
                output =
                    child::start_execution(&rt.state_machines, pattern, &resolved.input, submitted)
                        .await?;
            } else if let Some(handler) = resolved.handler {
                let out = handler.invoke(resolved.input, context).await?;
                output = if resolved.wrap_payload {
                    json!({"ExecutedVersion": "$LATEST", "Payload": out, "StatusCode": 200})
                } else {
                    out
                };
            }
            match receiver {
                Some(rx) => wait_for_answer(rx, heartbeat).await,
                None => Ok(output),
            }
        };
        let result = match self.timeout {
            Some(secs) => tokio::time::timeout(Duration::from_secs(secs), work)
                .await
                .unwrap_or_else(|_| {
                    Err(StatesError::new(
                        names::TIMEOUT,
                        Some(format!("the task did not finish within {secs} seconds")),
                    ))
                }),
            None => work.await,
        };
        let mut details = about;
        match &result {
            Ok(output) => {
                details["output"] = json!(output.to_string());
                rt.record(lane, EventType::TaskSucceeded, details);
            }
            Err(error) => {
                if let (Some(details), Value::Object(failure)) =
                    (details.as_object_mut(), error.event_details())
                {
                    details.extend(failure);
                }
                let event = if error.error == names::TIMEOUT {
                    EventType::TaskTimedOut
                } else {
                    EventType::TaskFailed
                };
                rt.record(lane, event, details);
            }
        }
        result
    }
}

struct TokenGuard<'a>(&'a TokenBook, String);

impl Drop for TokenGuard<'_> {
    fn drop(&mut self) {
        self.0.close(&self.1);
    }
}

async fn wait_for_answer(
    mut rx: mpsc::UnboundedReceiver<Signal>,
    heartbeat: Option<u64>,
) -> Result<Value, StatesError> {
    loop {
        let signal = match heartbeat {
            Some(secs) => tokio::time::timeout(Duration::from_secs(secs), rx.recv())
                .await
                .map_err(|_| {
                    StatesError::new(
                        names::TIMEOUT,
                        Some(format!("no heartbeat was received within {secs} seconds")),
                    )
                })?,
            None => rx.recv().await,
        };
        match signal {
            Some(Signal::Success(output)) => return Ok(output),
            Some(Signal::Failure(error)) => return Err(error),
            Some(Signal::Heartbeat) => continue,
            None => return Err(StatesError::runtime("the task token was withdrawn")),
        }
    }
}

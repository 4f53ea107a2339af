//! Task resources: the handler trait and the registry that maps a `Resource` to a handler.
//!
//! Resolution of a Task's `Resource` (after `DefinitionSubstitutions`), first match wins:
//! 1. the resource string itself, with any `.waitForTaskToken`/`.sync` suffix removed;
//! 2. for a Lambda ARN (`arn:aws:lambda:…:function:Name[:qualifier]`), `Name`;
//! 3. for `arn:aws:states:::lambda:invoke`, the `FunctionName` parameter (or its `Name`), called
//!    with `Payload` and answered as `{"Payload": …, "StatusCode": 200}` like the integration; a
//!    function no handler serves fails as Lambda fails it, with a `Lambda.ResourceNotFoundException`
//!    a Catch can take (a user's own function, named in an execution's input, is not ours to run);
//! 4. with no handler, `arn:aws:states:::states:startExecution[.sync[:2]]` starts a child
//!    execution of a registered state machine (see [`crate::child`]).
//!
//! ARNs may name any partition (`arn:aws-cn:…`, or a `${Partition}` placeholder left unsubstituted):
//! resources are resolved after `DefinitionSubstitutions`.
//!
//! A `.waitForTaskToken` resource suspends the task until its token is answered (see
//! [`crate::tokens`]); its handler, if any, is called first (to hand the token to someone) and its
//! return value is ignored.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::error::StatesError;

/// What a handler returns on failure: the error name (a Lambda `errorType`, never starting
/// `States.`) and a cause. Retry and Catch match on the name.
pub type TaskError = StatesError;

/// Facts about the Task invocation a handler may want.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskContext {
    /// The Task state's name.
    pub state_name: String,
    /// The `Resource` as written (after substitutions).
    pub resource: String,
    /// The token of a `.waitForTaskToken` task (also available as `$$.Task.Token`).
    pub task_token: Option<String>,
    /// `$$.Execution.Id`.
    pub execution_id: String,
    /// How many retries preceded this attempt (`$$.State.RetryCount`).
    pub retry_count: u32,
}

/// An in-process implementation of a Task resource.
#[async_trait]
pub trait TaskHandler: Send + Sync {
    /// Runs the task on its effective input (after `InputPath` and `Parameters`).
    async fn invoke(&self, input: Value, context: TaskContext) -> Result<Value, TaskError>;
}

struct FnHandler<F>(F);

#[async_trait]
impl<F, Fut> TaskHandler for FnHandler<F>
where
    F: Fn(Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, TaskError>> + Send,
{
    async fn invoke(&self, input: Value, _context: TaskContext) -> Result<Value, TaskError> {
        (self.0)(input).await
    }
}

/// Maps resource names to handlers.
#[derive(Clone, Default)]
pub struct TaskRegistry {
    handlers: HashMap<String, Arc<dyn TaskHandler>>,
}

impl std::fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.handlers.keys().collect();
        names.sort();
        f.debug_struct("TaskRegistry")
            .field("resources", &names)
            .finish()
    }
}

/// How a resource resolved for one invocation.
pub(crate) struct Resolved {
    pub handler: Option<Arc<dyn TaskHandler>>,
    pub input: Value,
    /// Wrap the output as the `lambda:invoke` integration does.
    pub wrap_payload: bool,
    /// The handler only answers as Lambda does for a function that does not exist.
    pub missing_function: bool,
}

/// Lambda's answer to `lambda:invoke` of a function it does not have.
struct MissingFunction(String);

#[async_trait]
impl TaskHandler for MissingFunction {
    async fn invoke(&self, _input: Value, _context: TaskContext) -> Result<Value, TaskError> {
        Err(StatesError::new(
            "Lambda.ResourceNotFoundException",
            Some(format!(
                "Function not found: {} (Service: Lambda, Status Code: 404, Request ID: local)",
                self.0
            )),
        ))
    }
}

/// Splits the service-integration suffix off a resource: `(base, waits_for_token)`.
pub(crate) fn integration_pattern(resource: &str) -> (&str, bool) {
    if let Some(base) = resource.strip_suffix(".waitForTaskToken") {
        return (base, true);
    }
    let base = resource
        .strip_suffix(".sync:2")
        .or_else(|| resource.strip_suffix(".sync"))
        .unwrap_or(resource);
    (base, false)
}

/// The function name inside a Lambda ARN, if it is one.
fn lambda_function_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => Some(name),
        _ => None,
    }
}

impl TaskRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a handler for `resource` (builder style).
    pub fn register(
        mut self,
        resource: impl Into<String>,
        handler: impl TaskHandler + 'static,
    ) -> Self {
        self.insert(resource, handler);
        self
    }

    /// Adds an async closure `input -> Result<output, TaskError>` for `resource`.
    pub fn register_fn<F, Fut>(self, resource: impl Into<String>, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
    {
        self.register(resource, FnHandler(f))
    }

    /// Adds a handler for `resource`, replacing any previous one.
    pub fn insert(&mut self, resource: impl Into<String>, handler: impl TaskHandler + 'static) {
        self.handlers.insert(resource.into(), Arc::new(handler));
    }

    /// Whether some handler would serve `resource` (with `parameters` for `lambda:invoke`).
    pub fn serves(&self, resource: &str, parameters: &Value) -> bool {
        let resolved = self.resolve(resource, parameters);
        resolved.handler.is_some() && !resolved.missing_function
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn TaskHandler>> {
        self.handlers
            .get(name)
            .or_else(|| lambda_function_name(name).and_then(|n| self.handlers.get(n)))
            .cloned()
    }

    pub(crate) fn resolve(&self, resource: &str, parameters: &Value) -> Resolved {
        let (base, _) = integration_pattern(resource);
        if let Some(handler) = self
            .handlers
            .get(resource)
            .cloned()
            .or_else(|| self.lookup(base))
        {
            return Resolved {
                handler: Some(handler),
                input: parameters.clone(),
                wrap_payload: false,
                missing_function: false,
            };
        }
        if crate::child::service_action(base) == Some(("lambda", "invoke")) {
            if let Some(function) = parameters.get("FunctionName").and_then(Value::as_str) {
                let found = self.lookup(function);
                let missing_function = found.is_none();
                let handler =
                    found.unwrap_or_else(|| Arc::new(MissingFunction(function.to_string())));
                return Resolved {
                    handler: Some(handler),
                    input: parameters
                        .get("Payload")
                        .cloned()
                        .unwrap_or_else(|| json!({})),
                    wrap_payload: true,
                    missing_function,
                };
            }
        }
        Resolved {
            handler: None,
            input: parameters.clone(),
            wrap_payload: false,
            missing_function: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> TaskRegistry {
        TaskRegistry::new()
            .register_fn("snapshot", |v| async move { Ok(v) })
            .register_fn(
                "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                |v| async move { Ok(v) },
            )
    }

    #[test]
    fn resolves_exact_names_lambda_arns_and_lambda_invoke() {
        let r = registry();
        assert!(r.serves("snapshot", &json!({})));
        assert!(r.serves("arn:aws:lambda:eu-west-1:123:function:snapshot", &json!({})));
        assert!(r.serves(
            "arn:aws:lambda:eu-west-1:123:function:snapshot:live",
            &json!({})
        ));
        assert!(r.serves(
            "arn:aws:states:::lambda:invoke",
            &json!({"FunctionName": "snapshot"})
        ));
        assert!(r.serves(
            "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            &json!({})
        ));
        assert!(!r.serves(
            "arn:aws:states:::lambda:invoke",
            &json!({"FunctionName": "other"})
        ));
        assert!(!r.serves("restore", &json!({})));
    }

    #[test]
    fn lambda_invoke_passes_the_payload() {
        let resolved = registry().resolve(
            "arn:aws:states:::lambda:invoke.waitForTaskToken",
            &json!({"FunctionName": "snapshot", "Payload": {"a": 1}}),
        );
        assert_eq!(resolved.input, json!({"a": 1}));
        assert!(resolved.wrap_payload);
    }

    #[test]
    fn integration_suffixes_are_recognised() {
        assert_eq!(integration_pattern("x.waitForTaskToken"), ("x", true));
        assert_eq!(integration_pattern("x.sync"), ("x", false));
        assert_eq!(integration_pattern("x"), ("x", false));
    }
}

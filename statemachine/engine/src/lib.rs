//! `asl-engine`: an in-process Amazon States Language interpreter (JSONPath query language).
//!
//! It runs the same definition file that SAM deploys, with Task resources resolved through a
//! [`TaskRegistry`] of async handlers, records a Step Functions–style history, counts state
//! transitions and can compress waits (`time_scale`) for local runs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use asl_engine::{Definition, Engine, Status, TaskRegistry, TaskError};
//! use serde_json::json;
//!
//! let definition = Definition::parse(r#"{"StartAt":"Hi","States":{"Hi":{"Type":"Task","Resource":"${Hello}","End":true}}}"#)?;
//! let registry = TaskRegistry::new().register_fn("hello", |input| async move {
//!     Ok::<_, TaskError>(json!({"greeting": "hello", "input": input}))
//! });
//! let engine = Engine::new(definition)
//!     .with_substitutions(&[("Hello".to_string(), "hello".to_string())].into())?
//!     .with_registry(registry)
//!     .with_time_scale(0.01);
//! let outcome = engine.run(json!({})).await;
//! if let Status::Succeeded(output) = &outcome.status {
//!     println!("{output} after {} transitions", outcome.state_transitions);
//! }
//! # Ok(()) }
//! ```

pub mod child;
pub mod definition;
mod engine;
pub mod error;
pub mod history;
pub mod intrinsics;
pub mod io;
mod lex;
pub mod path;
pub mod registry;
pub mod retry;
mod states;
pub mod template;
pub mod tokens;

pub use child::{ChildExecution, StateMachines};
pub use definition::choice;
pub use definition::{Definition, DefinitionError};
pub use engine::{Engine, Execution, Outcome, Status};
pub use error::StatesError;
pub use history::{EventType, HistoryEvent};
pub use registry::{TaskContext, TaskError, TaskHandler, TaskRegistry};
pub use tokens::{PendingTask, TokenError};

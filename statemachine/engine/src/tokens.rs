//! The open task tokens of an execution: a `.waitForTaskToken` Task waits here until
//! `send_task_success`/`send_task_failure` (see [`crate::Execution`]) answers its token, and
//! heartbeats keep it alive.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::{mpsc, Notify};

use crate::error::StatesError;

/// A `.waitForTaskToken` task waiting for its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTask {
    /// The token to answer with.
    pub token: String,
    /// The Task state's name.
    pub state_name: String,
    /// The Task's resource.
    pub resource: String,
    /// The effective parameters the task was scheduled with.
    pub parameters: Value,
}

/// Why a token answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Unknown token, or its task already finished (answered, timed out or aborted); AWS calls
    /// this `TaskDoesNotExist`/`InvalidToken`.
    #[error("task token is not pending (unknown, already answered or timed out): {0}")]
    NotPending(String),
}

/// What a token answer says.
#[derive(Debug)]
pub(crate) enum Signal {
    Success(Value),
    Failure(StatesError),
    Heartbeat,
}

/// The open task tokens of one execution.
#[derive(Debug, Default)]
pub(crate) struct TokenBook {
    pending: Mutex<HashMap<String, (PendingTask, mpsc::UnboundedSender<Signal>)>>,
    changed: Notify,
}

impl TokenBook {
    pub(crate) fn open(&self, task: PendingTask) -> mpsc::UnboundedReceiver<Signal> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(task.token.clone(), (task, tx));
        self.changed.notify_waiters();
        rx
    }

    pub(crate) fn close(&self, token: &str) {
        self.lock().remove(token);
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (PendingTask, mpsc::UnboundedSender<Signal>)>>
    {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn send(&self, token: &str, signal: Signal) -> Result<(), TokenError> {
        let mut pending = self.lock();
        let final_answer = !matches!(signal, Signal::Heartbeat);
        let sent = pending
            .get(token)
            .is_some_and(|(_, tx)| tx.send(signal).is_ok());
        if !sent || final_answer {
            pending.remove(token);
        }
        if sent {
            Ok(())
        } else {
            Err(TokenError::NotPending(token.to_string()))
        }
    }

    pub(crate) fn pending(&self) -> Vec<PendingTask> {
        let mut tasks: Vec<PendingTask> = self.lock().values().map(|(t, _)| t.clone()).collect();
        tasks.sort_by(|a, b| a.state_name.cmp(&b.state_name).then(a.token.cmp(&b.token)));
        tasks
    }

    /// Waits until at least one token is pending and returns the first.
    pub(crate) async fn next_pending(&self) -> PendingTask {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(task) = self.pending().into_iter().next() {
                return task;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_answers_are_accepted_once() {
        let book = TokenBook::default();
        let mut rx = book.open(PendingTask {
            token: "t1".into(),
            state_name: "Approve".into(),
            resource: "r".into(),
            parameters: json!({}),
        });
        assert_eq!(book.pending().len(), 1);
        assert!(book.send("t1", Signal::Heartbeat).is_ok());
        assert!(book.send("t1", Signal::Success(json!(1))).is_ok());
        assert!(matches!(rx.try_recv(), Ok(Signal::Heartbeat)));
        assert!(matches!(rx.try_recv(), Ok(Signal::Success(_))));
        assert_eq!(
            book.send("t1", Signal::Success(json!(2))),
            Err(TokenError::NotPending("t1".into()))
        );
        assert!(book.pending().is_empty());
    }
}

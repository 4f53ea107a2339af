//! The approval gate of a local run, answerable from another terminal.
//!
//! On AWS, `aurora-encrypt approve` answers the gate through Step Functions. A local run has no
//! service in between, so it keeps a small mailbox in the sandbox directory: while its approval
//! is pending it writes `approvals/pending.json`; `aurora-encrypt approve --local` (or `abort
//! --local`) writes `approvals/answer.json`, which the run reads and removes. Files are written
//! to a temporary name and renamed, so a reader never sees half an answer.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const PENDING: &str = "pending.json";
const ANSWER: &str = "answer.json";

/// What a waiting run publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingApproval {
    pub execution: String,
    pub state: String,
}

/// An operator's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalAnswer {
    pub approved: bool,
    /// At a failback window (`aurora-encrypt failback --local`): move the application back.
    #[serde(default)]
    pub failback: bool,
    /// The approval's comment, or the refusal's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalBoxError {
    #[error("no local execution is waiting for approval in {0}")]
    NothingPending(PathBuf),
    #[error("cannot use the approval mailbox {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The mailbox of one sandbox directory.
#[derive(Debug, Clone)]
pub struct ApprovalBox {
    dir: PathBuf,
}

impl ApprovalBox {
    /// The mailbox of the sandbox in `sandbox_dir`.
    pub fn in_sandbox(sandbox_dir: &Path) -> Self {
        Self {
            dir: sandbox_dir.join("approvals"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Says that `pending` waits; any earlier answer is discarded.
    pub fn publish(&self, pending: &PendingApproval) -> Result<(), ApprovalBoxError> {
        self.remove(ANSWER)?;
        self.write(PENDING, &serde_json::to_vec(pending).unwrap_or_default())
    }

    /// The answer, if one arrived; it is consumed.
    pub fn take_answer(&self) -> Option<ApprovalAnswer> {
        let path = self.dir.join(ANSWER);
        let text = std::fs::read(&path).ok()?;
        let _ = std::fs::remove_file(&path);
        serde_json::from_slice(&text).ok()
    }

    /// Nothing is pending any more (answered, or the run ended).
    pub fn clear(&self) {
        let _ = self.remove(PENDING);
        let _ = self.remove(ANSWER);
    }

    /// What waits, if anything.
    pub fn pending(&self) -> Option<PendingApproval> {
        let text = std::fs::read(self.dir.join(PENDING)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Answers the pending approval; refused when none is pending.
    pub fn answer(&self, answer: &ApprovalAnswer) -> Result<PendingApproval, ApprovalBoxError> {
        let pending = self
            .pending()
            .ok_or_else(|| ApprovalBoxError::NothingPending(self.dir.clone()))?;
        self.write(ANSWER, &serde_json::to_vec(answer).unwrap_or_default())?;
        Ok(pending)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ApprovalBoxError> {
        let io = |source| ApprovalBoxError::Io {
            path: self.dir.join(name),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let temporary = self.dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&temporary, bytes).map_err(io)?;
        std::fs::rename(&temporary, self.dir.join(name)).map_err(io)
    }

    fn remove(&self, name: &str) -> Result<(), ApprovalBoxError> {
        match std::fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ApprovalBoxError::Io {
                path: self.dir.join(name),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox() -> (tempdir::Dir, ApprovalBox) {
        let dir = tempdir::Dir::new();
        let mailbox = ApprovalBox::in_sandbox(dir.path());
        (dir, mailbox)
    }

    mod tempdir {
        use std::path::{Path, PathBuf};
        use std::sync::atomic::{AtomicU64, Ordering};

        /// A directory under the system temp dir, removed on drop.
        pub(super) struct Dir(PathBuf);

        impl Dir {
            pub(super) fn new() -> Self {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                let path = std::env::temp_dir().join(format!(
                    "approval-box-{}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }

            pub(super) fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn an_answer_without_a_pending_approval_is_refused() {
        let (_dir, mailbox) = mailbox();
        let refused = mailbox.answer(&ApprovalAnswer {
            failback: false,
            approved: true,
            note: None,
        });
        assert!(matches!(refused, Err(ApprovalBoxError::NothingPending(_))));
        assert_eq!(mailbox.take_answer(), None);
    }

    #[test]
    fn a_pending_approval_is_answered_once() {
        let (_dir, mailbox) = mailbox();
        let pending = PendingApproval {
            execution: "orders-1".into(),
            state: "AwaitApproval".into(),
        };
        mailbox.publish(&pending).unwrap();
        let answer = ApprovalAnswer {
            failback: false,
            approved: false,
            note: Some("window moved".into()),
        };
        assert_eq!(mailbox.answer(&answer).unwrap(), pending);
        assert_eq!(mailbox.take_answer(), Some(answer));
        assert_eq!(mailbox.take_answer(), None);
        mailbox.clear();
        assert_eq!(mailbox.pending(), None);
    }

    #[test]
    fn publishing_discards_a_stale_answer() {
        let (_dir, mailbox) = mailbox();
        let pending = PendingApproval {
            execution: "orders-1".into(),
            state: "AwaitApproval".into(),
        };
        mailbox.publish(&pending).unwrap();
        mailbox
            .answer(&ApprovalAnswer {
                failback: false,
                approved: true,
                note: None,
            })
            .unwrap();
        mailbox.publish(&pending).unwrap();
        assert_eq!(mailbox.take_answer(), None);
    }
}

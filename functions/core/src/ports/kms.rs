//! `KmsKeys`: what preflight needs to know of a KMS key before a restore is asked to use it, so
//! a disabled, pending-deletion or asymmetric key fails the run before anything is created.

use async_trait::async_trait;

use super::PortResult;

/// A KMS key as `DescribeKey` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KmsKey {
    /// The key's ARN (an alias resolves to the ARN of the key it points at).
    pub arn: String,
    pub key_id: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`, `Unavailable`, …
    pub state: String,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, …
    pub usage: String,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, …
    pub spec: String,
    /// `AWS` (AWS managed, e.g. `aws/rds`) or `CUSTOMER`.
    pub manager: String,
}

impl KmsKey {
    /// RDS encrypts storage only with enabled symmetric encryption keys.
    pub fn usable_by_rds(&self) -> Result<(), String> {
        if self.state != "Enabled" {
            return Err(format!("its state is `{}`, not `Enabled`", self.state));
        }
        if self.usage != "ENCRYPT_DECRYPT" {
            return Err(format!(
                "its usage is `{}`; RDS needs `ENCRYPT_DECRYPT`",
                self.usage
            ));
        }
        if self.spec != "SYMMETRIC_DEFAULT" {
            return Err(format!(
                "it is a `{}` key; RDS needs a symmetric (`SYMMETRIC_DEFAULT`) key",
                self.spec
            ));
        }
        Ok(())
    }

    /// The region part of the key's ARN.
    pub fn region(&self) -> Option<&str> {
        self.arn.split(':').nth(3)
    }
}

#[async_trait]
pub trait KmsKeys: Send + Sync {
    /// The key a key id, alias name or ARN refers to, or `None` if there is no such key or alias.
    async fn describe_key(&self, key: &str) -> PortResult<Option<KmsKey>>;
}

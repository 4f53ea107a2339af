//! `KmsKeys` over the sandbox: a KMS key is a key file (`file_key_management`), one per key id,
//! created by the restore that first uses it. Every key id, alias (`alias/aws/rds` included) or
//! key ARN names an enabled symmetric key whose ARN is derived from the id, in the sandbox's
//! region, so a spec written for the sandbox passes preflight's key checks and the restore uses
//! the key file of the ARN preflight resolved.

use async_trait::async_trait;
use aurora_core::ports::{KmsKey, KmsKeys, PortResult};

/// The region every sandbox ARN carries.
pub const REGION: &str = "sandbox";
const KEY_ARN_PREFIX: &str = "arn:aws:kms:sandbox:000000000000:key/";

/// The `KmsKeys` port of the sandbox.
#[derive(Clone, Debug, Default)]
pub struct SandboxKms;

/// The ARN a sandbox key id, alias or ARN resolves to; `None` for a blank id.
pub fn key_arn(key: &str) -> Option<String> {
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    if key.starts_with(KEY_ARN_PREFIX) {
        return Some(key.to_string());
    }
    let name = key
        .strip_prefix("arn:aws:kms:sandbox:000000000000:")
        .unwrap_or(key);
    let id: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Some(format!("{KEY_ARN_PREFIX}{id}"))
}

#[async_trait]
impl KmsKeys for SandboxKms {
    async fn describe_key(&self, key: &str) -> PortResult<Option<KmsKey>> {
        let Some(arn) = key_arn(key) else {
            return Ok(None);
        };
        let aws_managed = key.trim().starts_with("alias/aws/");
        Ok(Some(KmsKey {
            key_id: arn.trim_start_matches(KEY_ARN_PREFIX).to_string(),
            arn,
            state: "Enabled".into(),
            usage: "ENCRYPT_DECRYPT".into(),
            spec: "SYMMETRIC_DEFAULT".into(),
            manager: if aws_managed { "AWS" } else { "CUSTOMER" }.into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn aliases_and_arns_resolve_to_one_enabled_key_in_the_sandbox_region() {
        let kms = SandboxKms;
        let default = kms.describe_key("alias/aws/rds").await.unwrap().unwrap();
        assert!(default.usable_by_rds().is_ok());
        assert_eq!(default.manager, "AWS");
        assert_eq!(default.region(), Some(REGION));
        let custom = kms.describe_key("alias/orders").await.unwrap().unwrap();
        assert_eq!(custom.manager, "CUSTOMER");
        assert_ne!(custom.arn, default.arn);
        let again = kms.describe_key(&custom.arn).await.unwrap().unwrap();
        assert_eq!(again.arn, custom.arn, "an ARN resolves to itself");
        assert_eq!(kms.describe_key(" ").await.unwrap(), None);
    }
}

//! [`KmsKeys`] over AWS KMS: DescribeKey, which resolves key ids, aliases and ARNs (and creates
//! the AWS managed `aws/rds` key on first use, so the default key always resolves).

use async_trait::async_trait;
use aurora_core::errors::Resource;
use aurora_core::ports::{KmsKey, KmsKeys, PortResult};
use aws_config::SdkConfig;
use aws_sdk_kms::Client;

use crate::classify::found;

#[derive(Clone, Debug)]
pub struct AwsKmsKeys {
    client: Client,
}

impl AwsKmsKeys {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl KmsKeys for AwsKmsKeys {
    async fn describe_key(&self, key: &str) -> PortResult<Option<KmsKey>> {
        let Some(output) = found(
            self.client.describe_key().key_id(key).send().await,
            Resource::KmsKey,
            key,
        )?
        else {
            return Ok(None);
        };
        Ok(output.key_metadata().map(|m| KmsKey {
            arn: m.arn().unwrap_or_default().to_string(),
            key_id: m.key_id().to_string(),
            state: m
                .key_state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            usage: m
                .key_usage()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            spec: m
                .key_spec()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            manager: m
                .key_manager()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, json_error};
    use aurora_core::errors::PortError;
    use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
    use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType};
    use aws_smithy_mocks::mock;

    const ARN: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[tokio::test]
    async fn an_alias_resolves_to_the_keys_metadata() {
        let rule = mock!(Client::describe_key)
            .match_requests(|r| r.key_id() == Some("alias/aurora-orders"))
            .then_output(|| {
                DescribeKeyOutput::builder()
                    .key_metadata(
                        KeyMetadata::builder()
                            .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
                            .arn(ARN)
                            .key_state(KeyState::Disabled)
                            .key_usage(KeyUsageType::EncryptDecrypt)
                            .key_spec(KeySpec::SymmetricDefault)
                            .key_manager(KeyManagerType::Customer)
                            .build()
                            .unwrap(),
                    )
                    .build()
            });
        let kms = AwsKmsKeys::from_client(client!(aws_sdk_kms, &rule));
        let key = kms
            .describe_key("alias/aurora-orders")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            key,
            KmsKey {
                arn: ARN.into(),
                key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
                state: "Disabled".into(),
                usage: "ENCRYPT_DECRYPT".into(),
                spec: "SYMMETRIC_DEFAULT".into(),
                manager: "CUSTOMER".into(),
            }
        );
        assert!(key.usable_by_rds().is_err(), "disabled");
        assert_eq!(key.region(), Some("eu-west-1"));
    }

    #[tokio::test]
    async fn a_missing_key_is_none_and_other_errors_are_classified() {
        let missing = mock!(Client::describe_key)
            .match_requests(|r| r.key_id() == Some("alias/nope"))
            .then_http_response(|| json_error(400, "NotFoundException"));
        let denied = mock!(Client::describe_key)
            .match_requests(|r| r.key_id() == Some("alias/theirs"))
            .then_http_response(|| json_error(400, "AccessDeniedException"));
        let internal = mock!(Client::describe_key)
            .match_requests(|r| r.key_id() == Some("alias/flaky"))
            .then_http_response(|| json_error(500, "KMSInternalException"));
        let kms = AwsKmsKeys::from_client(client!(aws_sdk_kms, &missing, &denied, &internal));
        assert_eq!(kms.describe_key("alias/nope").await.unwrap(), None);
        assert!(matches!(
            kms.describe_key("alias/theirs").await.unwrap_err(),
            PortError::AccessDenied(_)
        ));
        assert!(matches!(
            kms.describe_key("alias/flaky").await.unwrap_err(),
            PortError::Transient(_)
        ));
    }
}

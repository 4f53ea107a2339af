//! Secrets Manager: the JSON of a secret (database credentials) for the SQL adapters, which
//! parse it themselves. The secret's value never appears in an error or a log line; only its ARN.

use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::PortResult;
use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;

use crate::classify::classify;

#[derive(Clone, Debug)]
pub struct SecretsManagerSecrets {
    client: Client,
}

impl SecretsManagerSecrets {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }

    /// The current `SecretString` of `secret_arn`.
    pub async fn secret_string(&self, secret_arn: &str) -> PortResult<String> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_arn)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Other, secret_arn))?;
        output.secret_string().map(str::to_string).ok_or_else(|| {
            PortError::InvalidRequest(format!("{secret_arn} has no SecretString (binary secret)"))
        })
    }
}

/// The SQL adapters read their credentials from Secrets Manager.
#[cfg(feature = "sql")]
#[async_trait::async_trait]
impl aurora_sql::SecretsSource for SecretsManagerSecrets {
    async fn secret_json(&self, secret_arn: &str) -> PortResult<String> {
        self.secret_string(secret_arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, json_error};
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_smithy_mocks::mock;

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl-AbCdEf";

    #[tokio::test]
    async fn reads_the_secret_string_by_arn() {
        let rule = mock!(Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some(ARN))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .secret_string(r#"{"username":"repl","password":"hunter2"}"#)
                    .build()
            });
        let secrets = SecretsManagerSecrets::from_client(client!(aws_sdk_secretsmanager, &rule));
        assert!(secrets.secret_string(ARN).await.unwrap().contains("repl"));
    }

    #[tokio::test]
    async fn failures_are_classified_and_name_only_the_arn() {
        let missing = mock!(Client::get_secret_value)
            .then_http_response(|| json_error(400, "ResourceNotFoundException"));
        let secrets = SecretsManagerSecrets::from_client(client!(aws_sdk_secretsmanager, &missing));
        let error = secrets.secret_string(ARN).await.unwrap_err();
        assert!(error.to_string().contains(ARN), "{error}");
        let denied = mock!(Client::get_secret_value)
            .then_http_response(|| json_error(400, "AccessDeniedException"));
        let secrets = SecretsManagerSecrets::from_client(client!(aws_sdk_secretsmanager, &denied));
        assert!(matches!(
            secrets.secret_string(ARN).await.unwrap_err(),
            PortError::AccessDenied(_)
        ));
        let binary =
            mock!(Client::get_secret_value).then_output(|| GetSecretValueOutput::builder().build());
        let secrets = SecretsManagerSecrets::from_client(client!(aws_sdk_secretsmanager, &binary));
        assert!(matches!(
            secrets.secret_string(ARN).await.unwrap_err(),
            PortError::InvalidRequest(_)
        ));
    }
}

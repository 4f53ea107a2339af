//! [`SourceLock`] over a DynamoDB table (one item per source cluster, keyed by its ARN) and
//! Step Functions `DescribeExecution` (whether a holder still runs).
//!
//! Only Preflight takes the lock, and so only it asks about a holder: with the `lock-holders`
//! feature the lock carries a Step Functions client. The steps that only check they still hold
//! the lock (fence, swap, clean-up) are built without it and link no Step Functions client; a
//! question about a holder there fails rather than guess.
//!
//! Every write is a `PutItem` with a condition on what the step read: `attribute_not_exists` of
//! the key for a source no execution has locked yet, otherwise the item's `version`. A condition
//! that fails (`ConditionalCheckFailedException`) means another execution wrote first: the port
//! answers `false` and the step decides again on a fresh, strongly consistent `GetItem`.
//!
//! Item: `sourceClusterArn` (S, the key), `executionArn` (S), `leaseExpiresAt` (N, epoch
//! seconds), `released` (BOOL), `version` (N), and on a released lock `expiresAt` (N, epoch
//! seconds): the table's TTL attribute, so released records go away by themselves. A held lock
//! never carries it: DynamoDB's TTL must never delete a lock someone holds.

use std::collections::HashMap;

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{HolderStatus, LockRecord, PortResult, SourceLock};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
#[cfg(feature = "lock-holders")]
use aws_sdk_sfn::types::ExecutionStatus;
use time::{Duration, OffsetDateTime};

use crate::classify::classify;

/// The table's partition key.
pub const KEY: &str = "sourceClusterArn";
/// The table's TTL attribute (set on released locks only).
pub const TTL_ATTRIBUTE: &str = "expiresAt";
/// How long a released lock's record stays readable (who held it last) before TTL removes it.
const RELEASED_RECORD_KEPT: Duration = Duration::days(7);

#[derive(Clone, Debug)]
pub struct DynamoSourceLock {
    dynamodb: aws_sdk_dynamodb::Client,
    #[cfg(feature = "lock-holders")]
    sfn: aws_sdk_sfn::Client,
    table: String,
    /// The region the Step Functions client asks: holders elsewhere cannot be described here.
    #[cfg(feature = "lock-holders")]
    region: Option<String>,
}

impl DynamoSourceLock {
    /// `table`: the lock table's name (the Lambdas read `SOURCE_LOCK_TABLE`).
    pub fn new(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            #[cfg(feature = "lock-holders")]
            sfn: aws_sdk_sfn::Client::new(config),
            table: table.into(),
            #[cfg(feature = "lock-holders")]
            region: config.region().map(|r| r.to_string()),
        }
    }

    #[cfg(feature = "lock-holders")]
    pub fn from_clients(
        dynamodb: aws_sdk_dynamodb::Client,
        sfn: aws_sdk_sfn::Client,
        table: impl Into<String>,
        region: Option<String>,
    ) -> Self {
        Self {
            dynamodb,
            sfn,
            table: table.into(),
            region,
        }
    }

    /// The table named by `SOURCE_LOCK_TABLE`; a missing variable fails start-up with its name.
    pub fn from_env(config: &SdkConfig) -> Result<Self, String> {
        match std::env::var("SOURCE_LOCK_TABLE") {
            Ok(table) if !table.trim().is_empty() => Ok(Self::new(config, table)),
            _ => Err("SOURCE_LOCK_TABLE must name the source lock table".into()),
        }
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn item(record: &LockRecord) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (KEY.to_string(), s(&record.resource)),
        ("executionArn".to_string(), s(&record.holder)),
        (
            "leaseExpiresAt".to_string(),
            n(record.lease_expires_at.unix_timestamp()),
        ),
        (
            "released".to_string(),
            AttributeValue::Bool(record.released),
        ),
        ("version".to_string(), n(record.version)),
    ]);
    if record.released {
        item.insert(
            TTL_ATTRIBUTE.to_string(),
            n((record.lease_expires_at + RELEASED_RECORD_KEPT).unix_timestamp()),
        );
    }
    item
}

fn record(item: &HashMap<String, AttributeValue>) -> PortResult<LockRecord> {
    let malformed = |field: &str| PortError::Other(format!("lock item lacks a valid `{field}`"));
    let string = |field: &str| {
        item.get(field)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| malformed(field))
    };
    let number = |field: &str| {
        item.get(field)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| malformed(field))
    };
    Ok(LockRecord {
        resource: string(KEY)?,
        holder: string("executionArn")?,
        lease_expires_at: OffsetDateTime::from_unix_timestamp(number("leaseExpiresAt")?)
            .map_err(|_| malformed("leaseExpiresAt"))?,
        released: item
            .get("released")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .ok_or_else(|| malformed("released"))?,
        version: u64::try_from(number("version")?).map_err(|_| malformed("version"))?,
    })
}

/// `arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>`: its region.
#[cfg(feature = "lock-holders")]
fn execution_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(8, ':').collect();
    match parts.as_slice() {
        ["arn", _, "states", region, _, "execution", _, _] => Some(region),
        _ => None,
    }
}

#[async_trait]
impl SourceLock for DynamoSourceLock {
    async fn read(&self, resource: &str) -> PortResult<Option<LockRecord>> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key(KEY, s(resource))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Other, &self.table))?;
        output.item().map(record).transpose()
    }

    async fn write_if(
        &self,
        record: &LockRecord,
        expected_version: Option<u64>,
    ) -> PortResult<bool> {
        let request = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(record)));
        let request = match expected_version {
            None => request
                .condition_expression("attribute_not_exists(#key)")
                .expression_attribute_names("#key", KEY),
            Some(version) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(version)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(classify(error, Resource::Other, &self.table)),
        }
    }

    #[cfg(not(feature = "lock-holders"))]
    async fn holder_status(&self, holder: &str) -> PortResult<HolderStatus> {
        Err(PortError::Other(format!(
            "this function is built without the `lock-holders` feature: it cannot ask whether \
             {holder} still runs, so it does not take locks"
        )))
    }

    #[cfg(feature = "lock-holders")]
    async fn holder_status(&self, holder: &str) -> PortResult<HolderStatus> {
        // A local run's execution (region `local`), or one in another region, cannot be asked
        // about here: only its lease counts.
        match (execution_region(holder), self.region.as_deref()) {
            (Some(theirs), Some(ours)) if theirs == ours => {}
            _ => return Ok(HolderStatus::Unknown),
        }
        let output = match self
            .sfn
            .describe_execution()
            .execution_arn(holder)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => {
                return match error.as_service_error() {
                    // Closed executions are described for 90 days; after that they are gone.
                    Some(e) if e.is_execution_does_not_exist() => Ok(HolderStatus::Ended),
                    Some(e) if e.is_invalid_arn() => Ok(HolderStatus::Unknown),
                    _ => Err(classify(error, Resource::Other, holder)),
                };
            }
        };
        Ok(match output.status() {
            // A failed execution whose redrive was asked for runs again.
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive => HolderStatus::Running,
            ExecutionStatus::Succeeded
            | ExecutionStatus::Failed
            | ExecutionStatus::TimedOut
            | ExecutionStatus::Aborted => HolderStatus::Ended,
            _ => HolderStatus::Unknown,
        })
    }
}

#[cfg(test)]
#[cfg(feature = "lock-holders")]
mod tests {
    use super::*;
    use crate::test_support::{client, json_error};
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    use aws_sdk_dynamodb::Client as Dynamo;
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    use aws_sdk_sfn::Client as Sfn;
    use aws_smithy_mocks::{mock, Rule};

    const TABLE: &str = "aurora-encrypt-source-locks";
    const SOURCE: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:orders";
    const A: &str = "arn:aws:states:eu-west-1:123456789012:execution:encrypt-cluster:a";
    const B: &str = "arn:aws:states:eu-west-1:123456789012:execution:encrypt-cluster:b";

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn lock_with(dynamo: &[&Rule], sfn: &[&Rule]) -> DynamoSourceLock {
        let unused = mock!(Sfn::describe_execution)
            .match_requests(|_| false)
            .then_output(|| unreachable!());
        let unused_put = mock!(Dynamo::put_item)
            .match_requests(|_| false)
            .then_output(|| unreachable!());
        let dynamodb = match dynamo {
            [] => client!(aws_sdk_dynamodb, &unused_put),
            [a] => client!(aws_sdk_dynamodb, *a),
            [a, b] => client!(aws_sdk_dynamodb, *a, *b),
            _ => unimplemented!(),
        };
        let sfn = match sfn {
            [] => client!(aws_sdk_sfn, &unused),
            [a] => client!(aws_sdk_sfn, *a),
            _ => unimplemented!(),
        };
        DynamoSourceLock::from_clients(dynamodb, sfn, TABLE, Some("eu-west-1".into()))
    }

    fn record(holder: &str, version: u64, released: bool) -> LockRecord {
        LockRecord {
            resource: SOURCE.into(),
            holder: holder.into(),
            lease_expires_at: at(1_800_000_000),
            released,
            version,
        }
    }

    #[tokio::test]
    async fn reads_consistently_by_the_source_arn() {
        let get = mock!(Dynamo::get_item)
            .match_requests(|r| {
                r.table_name() == Some(TABLE)
                    && r.consistent_read() == Some(true)
                    && r.key().and_then(|k| k.get(KEY)) == Some(&s(SOURCE))
                    && r.key().map(HashMap::len) == Some(1)
            })
            .then_output(|| {
                GetItemOutput::builder()
                    .set_item(Some(item(&record(A, 3, false))))
                    .build()
            });
        let lock = lock_with(&[&get], &[]);
        assert_eq!(lock.read(SOURCE).await.unwrap(), Some(record(A, 3, false)));
    }

    #[tokio::test]
    async fn a_source_never_locked_reads_as_none() {
        let get = mock!(Dynamo::get_item).then_output(|| GetItemOutput::builder().build());
        assert_eq!(lock_with(&[&get], &[]).read(SOURCE).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_first_lock_of_a_source_is_put_only_if_no_item_exists() {
        let put = mock!(Dynamo::put_item)
            .match_requests(|r| {
                let item = r.item().unwrap();
                r.table_name() == Some(TABLE)
                    && r.condition_expression() == Some("attribute_not_exists(#key)")
                    && r.expression_attribute_names().and_then(|n| n.get("#key"))
                        == Some(&KEY.to_string())
                    && r.expression_attribute_values().is_none()
                    && item.get(KEY) == Some(&s(SOURCE))
                    && item.get("executionArn") == Some(&s(A))
                    && item.get("leaseExpiresAt") == Some(&n(1_800_000_000))
                    && item.get("released") == Some(&AttributeValue::Bool(false))
                    && item.get("version") == Some(&n(1))
                    && !item.contains_key(TTL_ATTRIBUTE)
            })
            .then_output(|| PutItemOutput::builder().build());
        let lock = lock_with(&[&put], &[]);
        assert!(lock.write_if(&record(A, 1, false), None).await.unwrap());
    }

    #[tokio::test]
    async fn later_writes_are_conditional_on_the_version_read() {
        let put = mock!(Dynamo::put_item)
            .match_requests(|r| {
                r.condition_expression() == Some("#version = :expected")
                    && r.expression_attribute_names()
                        .and_then(|n| n.get("#version"))
                        == Some(&"version".to_string())
                    && r.expression_attribute_values()
                        .and_then(|v| v.get(":expected"))
                        == Some(&n(4))
                    && r.item().and_then(|i| i.get("version")) == Some(&n(5))
                    && r.item().and_then(|i| i.get(TTL_ATTRIBUTE))
                        == Some(&n(1_800_000_000 + 7 * 86_400))
            })
            .then_output(|| PutItemOutput::builder().build());
        let lock = lock_with(&[&put], &[]);
        assert!(lock.write_if(&record(A, 5, true), Some(4)).await.unwrap());
    }

    #[tokio::test]
    async fn a_failed_condition_is_a_lost_race_and_the_step_reports_source_busy() {
        use aurora_core::errors::NamedError;
        use aurora_core::steps::source_lock;
        let put = mock!(Dynamo::put_item)
            .then_http_response(|| json_error(400, "ConditionalCheckFailedException"));
        // Read before the write: nobody; read after the lost write: B, still running.
        let get = mock!(Dynamo::get_item)
            .sequence()
            .output(|| GetItemOutput::builder().build())
            .output(|| {
                GetItemOutput::builder()
                    .set_item(Some(item(&record(B, 1, false))))
                    .build()
            })
            .build();
        let running = mock!(Sfn::describe_execution)
            .match_requests(|r| r.execution_arn() == Some(B))
            .then_output(|| {
                DescribeExecutionOutput::builder()
                    .execution_arn(B)
                    .state_machine_arn(
                        "arn:aws:states:eu-west-1:123456789012:stateMachine:encrypt-cluster",
                    )
                    .status(ExecutionStatus::Running)
                    .start_date(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .unwrap()
            });
        let lock = lock_with(&[&put, &get], &[&running]);
        assert!(!lock.write_if(&record(A, 1, false), None).await.unwrap());
        let error = source_lock::acquire(&lock, SOURCE, A, at(1_700_000_000))
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "SourceBusy");
        assert!(error.to_string().contains(B), "{error}");
    }

    #[tokio::test]
    async fn other_put_failures_are_classified() {
        let throttled = mock!(Dynamo::put_item)
            .match_requests(|r| r.item().and_then(|i| i.get("version")) == Some(&n(1)))
            .then_http_response(|| json_error(400, "ProvisionedThroughputExceededException"));
        let missing = mock!(Dynamo::put_item)
            .match_requests(|r| r.item().and_then(|i| i.get("version")) == Some(&n(2)))
            .then_http_response(|| json_error(400, "AccessDeniedException"));
        let lock = lock_with(&[&throttled, &missing], &[]);
        assert!(matches!(
            lock.write_if(&record(A, 1, false), None).await,
            Err(PortError::Transient(_))
        ));
        assert!(matches!(
            lock.write_if(&record(A, 2, false), Some(1)).await,
            Err(PortError::AccessDenied(_))
        ));
    }

    fn described(status: ExecutionStatus) -> Rule {
        mock!(Sfn::describe_execution)
            .match_requests(|r| r.execution_arn() == Some(B))
            .then_output(move || {
                DescribeExecutionOutput::builder()
                    .execution_arn(B)
                    .state_machine_arn(
                        "arn:aws:states:eu-west-1:123456789012:stateMachine:encrypt-cluster",
                    )
                    .status(status.clone())
                    .start_date(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .unwrap()
            })
    }

    #[tokio::test]
    async fn a_holder_is_running_until_its_execution_closes() {
        for (status, expected) in [
            (ExecutionStatus::Running, HolderStatus::Running),
            (ExecutionStatus::PendingRedrive, HolderStatus::Running),
            (ExecutionStatus::Succeeded, HolderStatus::Ended),
            (ExecutionStatus::Failed, HolderStatus::Ended),
            (ExecutionStatus::TimedOut, HolderStatus::Ended),
            (ExecutionStatus::Aborted, HolderStatus::Ended),
        ] {
            let rule = described(status.clone());
            let lock = lock_with(&[], &[&rule]);
            assert_eq!(lock.holder_status(B).await.unwrap(), expected, "{status:?}");
        }
    }

    #[tokio::test]
    async fn a_vanished_execution_has_ended_and_an_unaskable_one_is_unknown() {
        let gone = mock!(Sfn::describe_execution)
            .then_http_response(|| json_error(400, "ExecutionDoesNotExist"));
        assert_eq!(
            lock_with(&[], &[&gone]).holder_status(B).await.unwrap(),
            HolderStatus::Ended
        );
        let invalid =
            mock!(Sfn::describe_execution).then_http_response(|| json_error(400, "InvalidArn"));
        assert_eq!(
            lock_with(&[], &[&invalid]).holder_status(B).await.unwrap(),
            HolderStatus::Unknown
        );
        // Never asked: a local run's execution, and one in another region.
        let lock = lock_with(&[], &[]);
        for holder in [
            "arn:aws:states:local:000000000000:execution:encrypt-cluster:x",
            "arn:aws:states:us-east-1:123456789012:execution:encrypt-cluster:x",
            "not-an-arn",
        ] {
            assert_eq!(
                lock.holder_status(holder).await.unwrap(),
                HolderStatus::Unknown
            );
        }
    }
}

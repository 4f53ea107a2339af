//! [`LagMetrics`] over CloudWatch: the latest `CDCLatencySource` / `CDCLatencyTarget` (namespace
//! `AWS/DMS`) of a data migration, a second opinion next to DescribeDataMigrations' CDCLatency,
//! which stays the gate.
//!
//! Assumption: DMS documents these metrics for classic replication tasks, keyed by
//! `ReplicationInstanceIdentifier` and `ReplicationTaskIdentifier`; it does not document which
//! dimensions homogeneous data migrations publish them under (a data migration has neither a
//! replication instance nor a task we know of). Rather than guess dimension names, the query is a
//! CloudWatch `SEARCH` in `AWS/DMS` for the metric name plus the migration's name or ARN resource
//! id as a dimension value, reduced with `MAX` to one series. If DMS publishes nothing that
//! matches, the answer is `None` ("no metric published"), never a false zero.

use async_trait::async_trait;
use aurora_core::errors::Resource;
use aurora_core::ports::{LagMetrics, LagSample, PortResult, ReplicationHandle};
use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{MetricDataQuery, ScanBy};
use aws_sdk_cloudwatch::Client;
use time::{Duration, OffsetDateTime};

use crate::classify::classify;
use crate::to_smithy;

pub const NAMESPACE: &str = "AWS/DMS";
pub const SOURCE_METRIC: &str = "CDCLatencySource";
pub const TARGET_METRIC: &str = "CDCLatencyTarget";
/// DMS publishes once a minute.
const PERIOD_SECONDS: i32 = 60;
/// Older datapoints say nothing about the lag now; this also bounds the query's cost.
const LOOKBACK: Duration = Duration::hours(3);

#[derive(Clone, Debug)]
pub struct CloudWatchLag {
    client: Client,
}

impl CloudWatchLag {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

/// Characters that would end a quoted search term; DMS names and ARNs never contain them.
fn search_term(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '"' | '\'' | '\\'))
        .collect()
}

/// The metric math expression for one metric of this migration.
pub fn latency_expression(metric: &str, handle: &ReplicationHandle) -> String {
    let resource_id = handle.id.rsplit(':').next().unwrap_or_default();
    let mut terms = vec![format!("\"{}\"", search_term(&handle.name))];
    if !resource_id.is_empty() && resource_id != handle.name {
        terms.push(format!("\"{}\"", search_term(resource_id)));
    }
    format!(
        "MAX(SEARCH('{{{NAMESPACE}}} MetricName=\"{metric}\" ({})', 'Maximum', {PERIOD_SECONDS}))",
        terms.join(" OR ")
    )
}

#[async_trait]
impl LagMetrics for CloudWatchLag {
    async fn cdc_latency(
        &self,
        handle: &ReplicationHandle,
        since: OffsetDateTime,
    ) -> PortResult<Option<LagSample>> {
        let now = OffsetDateTime::now_utc();
        let start = since
            .max(now - LOOKBACK)
            .min(now - Duration::seconds(PERIOD_SECONDS.into()));
        let query = |id: &str, metric: &str| {
            MetricDataQuery::builder()
                .id(id)
                .expression(latency_expression(metric, handle))
                .period(PERIOD_SECONDS)
                .return_data(true)
                .build()
        };
        let output = self
            .client
            .get_metric_data()
            .metric_data_queries(query("source", SOURCE_METRIC))
            .metric_data_queries(query("target", TARGET_METRIC))
            .start_time(to_smithy(start))
            .end_time(to_smithy(now))
            // Newest first, so the first value of each series is the latest.
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Migration, &handle.id))?;
        let latest = |id: &str| {
            output
                .metric_data_results()
                .iter()
                .filter(|r| r.id() == Some(id))
                .find_map(|r| r.values().first().copied())
        };
        let sample = LagSample {
            source_seconds: latest("source"),
            target_seconds: latest("target"),
        };
        Ok((sample.source_seconds.is_some() || sample.target_seconds.is_some()).then_some(sample))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::client;
    use aurora_core::errors::PortError;
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    use aws_sdk_cloudwatch::Client;
    use aws_smithy_mocks::mock;

    fn handle() -> ReplicationHandle {
        ReplicationHandle {
            engine: "dms".into(),
            id: "arn:aws:dms:eu-west-1:123456789012:data-migration:ABC123".into(),
            name: "orders-encrypt".into(),
            resources: vec![],
        }
    }

    fn result(id: &str, values: &[f64]) -> MetricDataResult {
        values
            .iter()
            .fold(MetricDataResult::builder().id(id), |b, v| b.values(*v))
            .build()
    }

    #[test]
    fn expression_searches_the_dms_namespace_for_the_migration() {
        assert_eq!(
            latency_expression(SOURCE_METRIC, &handle()),
            "MAX(SEARCH('{AWS/DMS} MetricName=\"CDCLatencySource\" (\"orders-encrypt\" OR \"ABC123\")', 'Maximum', 60))"
        );
    }

    #[tokio::test]
    async fn latest_datapoints_of_both_metrics_are_returned() {
        let since = OffsetDateTime::now_utc() - Duration::minutes(30);
        let rule = mock!(Client::get_metric_data)
            .match_requests(move |r| {
                let queries = r.metric_data_queries();
                queries.len() == 2
                    && queries[0].id() == Some("source")
                    && queries[0]
                        .expression()
                        .is_some_and(|e| e.contains("CDCLatencySource"))
                    && queries[1].id() == Some("target")
                    && queries[1]
                        .expression()
                        .is_some_and(|e| e.contains("CDCLatencyTarget"))
                    && queries.iter().all(|q| q.period() == Some(60))
                    && r.scan_by() == Some(&ScanBy::TimestampDescending)
                    && r.start_time().map(|t| t.secs()) == Some(since.unix_timestamp())
            })
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("source", &[2.0, 9.0]))
                    .metric_data_results(result("target", &[4.0]))
                    .build()
            });
        let lag = CloudWatchLag::from_client(client!(aws_sdk_cloudwatch, &rule));

        let sample = lag.cdc_latency(&handle(), since).await.unwrap();

        assert_eq!(
            sample,
            Some(LagSample {
                source_seconds: Some(2.0),
                target_seconds: Some(4.0)
            })
        );
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn no_datapoints_is_none_not_zero() {
        let rule = mock!(Client::get_metric_data).then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(result("source", &[]))
                .metric_data_results(result("target", &[]))
                .build()
        });
        let lag = CloudWatchLag::from_client(client!(aws_sdk_cloudwatch, &rule));
        assert_eq!(
            lag.cdc_latency(&handle(), OffsetDateTime::now_utc()).await,
            Ok(None)
        );
    }

    #[tokio::test]
    async fn server_errors_are_transient() {
        let rule = mock!(Client::get_metric_data)
            .sequence()
            .http_status(503, None)
            .build();
        let lag = CloudWatchLag::from_client(client!(aws_sdk_cloudwatch, &rule));
        assert!(matches!(
            lag.cdc_latency(&handle(), OffsetDateTime::now_utc()).await,
            Err(PortError::Transient(_))
        ));
    }
}

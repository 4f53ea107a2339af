//! [`WriteFence`] over Amazon RDS: moves the cluster onto the fence security group
//! (ModifyDBCluster `VpcSecurityGroupIds`, applied immediately) and sets `read_only=1` in its
//! cluster parameter group (ModifyDBClusterParameterGroup, `ApplyMethod` immediate); lifting puts
//! back the recorded security groups and value (ResetDBClusterParameterGroup when the value was
//! the engine default).
//!
//! The fence record is saved as cluster tags *before* anything changes. RDS tag values hold at
//! most 256 characters from a restricted set (letters, digits, space and `_ . : / = + - @`), too
//! small and too strict for JSON: the record's JSON is base64-encoded (whose alphabet is in the
//! set) and split over `aurora-encrypt:fence:0`, `:1`, … with the number of parts in
//! `aurora-encrypt:fence:parts`. One AddTagsToResource call writes them all, so a record is never
//! half-saved.

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{Cluster, Clusters, FenceRecord, FenceState, PortResult, Tag, WriteFence};
use aurora_core::spec::FenceMethod;
use aws_config::SdkConfig;
use aws_sdk_rds::types::{self as rds, ApplyMethod};
use aws_sdk_rds::Client;
use base64::Engine as _;

use crate::classify::classify;
use crate::params::{find_parameter, modify_parameter};
use crate::rds::RdsClusters;

/// The prefix of every fence tag.
pub const FENCE_TAG_PREFIX: &str = "aurora-encrypt:fence:";
const PARTS_TAG: &str = "aurora-encrypt:fence:parts";
const TAG_VALUE_MAX: usize = 256;
const READ_ONLY: &str = "read_only";

#[derive(Clone, Debug)]
pub struct RdsWriteFence {
    client: Client,
    clusters: RdsClusters,
}

impl RdsWriteFence {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self {
            clusters: RdsClusters::from_client(client.clone()),
            client,
        }
    }

    async fn cluster(&self, cluster_id: &str) -> PortResult<Cluster> {
        self.clusters
            .describe_cluster(cluster_id)
            .await?
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster_id.to_string(),
            })
    }

    async fn read_only(&self, group: &str) -> PortResult<Option<String>> {
        Ok(find_parameter(&self.client, group, READ_ONLY)
            .await?
            .and_then(|p| p.value))
    }

    async fn set_security_groups(&self, cluster_id: &str, groups: &[String]) -> PortResult<()> {
        self.client
            .modify_db_cluster()
            .db_cluster_identifier(cluster_id)
            .set_vpc_security_group_ids(Some(groups.to_vec()))
            .apply_immediately(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, Resource::Cluster, cluster_id))
    }

    async fn set_read_only(&self, group: &str, value: Option<&str>) -> PortResult<()> {
        match value {
            Some(value) => {
                modify_parameter(
                    &self.client,
                    group,
                    READ_ONLY,
                    value,
                    ApplyMethod::Immediate,
                )
                .await
            }
            // The value was the engine default: reset rather than guess what the default is.
            None => {
                let parameter = rds::Parameter::builder()
                    .parameter_name(READ_ONLY)
                    .apply_method(ApplyMethod::Immediate)
                    .build();
                self.client
                    .reset_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(group)
                    .reset_all_parameters(false)
                    .parameters(parameter)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify(e, Resource::ParameterGroup, group))
            }
        }
    }
}

/// The tags that hold `record`.
pub fn encode_record(record: &FenceRecord) -> PortResult<Vec<Tag>> {
    let json = serde_json::to_vec(record)
        .map_err(|e| PortError::InvalidRequest(format!("fence record: {e}")))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    // Base64 is ASCII, so byte chunks are character chunks.
    let parts: Vec<&[u8]> = encoded.as_bytes().chunks(TAG_VALUE_MAX).collect();
    let mut tags = vec![Tag::new(PARTS_TAG, parts.len().to_string())];
    for (i, part) in parts.iter().enumerate() {
        tags.push(Tag::new(
            format!("{FENCE_TAG_PREFIX}{i}"),
            String::from_utf8_lossy(part),
        ));
    }
    Ok(tags)
}

/// The record saved in `tags`, if any.
pub fn decode_record(tags: &[Tag]) -> PortResult<Option<FenceRecord>> {
    let find = |key: &str| tags.iter().find(|t| t.key == key).map(|t| t.value.as_str());
    let Some(parts) = find(PARTS_TAG) else {
        return Ok(None);
    };
    let unreadable = |why: String| PortError::Other(format!("fence record tags unreadable: {why}"));
    let parts: usize = parts
        .parse()
        .map_err(|_| unreadable(format!("{PARTS_TAG}={parts:?}")))?;
    let mut encoded = String::new();
    for i in 0..parts {
        let key = format!("{FENCE_TAG_PREFIX}{i}");
        encoded.push_str(find(&key).ok_or_else(|| unreadable(format!("{key} is missing")))?);
    }
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| unreadable(e.to_string()))?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|e| unreadable(e.to_string()))
}

#[async_trait]
impl WriteFence for RdsWriteFence {
    async fn current(&self, cluster_id: &str) -> PortResult<FenceState> {
        let cluster = self.cluster(cluster_id).await?;
        let read_only = match &cluster.cluster_parameter_group {
            Some(group) => self.read_only(group).await?,
            None => None,
        };
        Ok(FenceState {
            security_group_ids: cluster.vpc_security_group_ids,
            parameter_group: cluster.cluster_parameter_group,
            read_only,
        })
    }

    async fn saved_record(&self, cluster_id: &str) -> PortResult<Option<FenceRecord>> {
        decode_record(&self.cluster(cluster_id).await?.tags)
    }

    async fn apply(&self, record: &FenceRecord) -> PortResult<()> {
        let cluster = self.cluster(&record.cluster_id).await?;
        if decode_record(&cluster.tags).ok().flatten().as_ref() != Some(record) {
            let tags: Vec<rds::Tag> = encode_record(record)?
                .into_iter()
                .map(|t| rds::Tag::builder().key(t.key).value(t.value).build())
                .collect();
            self.client
                .add_tags_to_resource()
                .resource_name(&cluster.arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| classify(e, Resource::Cluster, &cluster.arn))?;
        }
        if record.methods.contains(&FenceMethod::SecurityGroup) {
            let group = record.fence_security_group_id.clone().ok_or_else(|| {
                PortError::InvalidRequest("security-group fence without a fence group".into())
            })?;
            if cluster.vpc_security_group_ids != [group.clone()] {
                self.set_security_groups(&cluster.id, &[group]).await?;
            }
        }
        if record.methods.contains(&FenceMethod::ReadOnly) {
            let group = record.parameter_group.as_deref().ok_or_else(|| {
                PortError::InvalidRequest("read-only fence without a parameter group".into())
            })?;
            if self.read_only(group).await?.as_deref() != Some("1") {
                self.set_read_only(group, Some("1")).await?;
            }
        }
        Ok(())
    }

    async fn lift(&self, record: &FenceRecord) -> PortResult<()> {
        let cluster = self.cluster(&record.cluster_id).await?;
        if let Some(original) = &record.original_security_group_ids {
            if cluster.vpc_security_group_ids != *original {
                self.set_security_groups(&cluster.id, original).await?;
            }
        }
        if record.methods.contains(&FenceMethod::ReadOnly) {
            if let Some(group) = record.parameter_group.as_deref() {
                let original = record.original_read_only.as_deref();
                if self.read_only(group).await?.as_deref() != original {
                    self.set_read_only(group, original).await?;
                }
            }
        }
        let keys: Vec<String> = cluster
            .tags
            .iter()
            .filter(|t| t.key.starts_with(FENCE_TAG_PREFIX))
            .map(|t| t.key.clone())
            .collect();
        if !keys.is_empty() {
            self.client
                .remove_tags_from_resource()
                .resource_name(&cluster.arn)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .map_err(|e| classify(e, Resource::Cluster, &cluster.arn))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, xml_error};
    use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput;
    use aws_sdk_rds::operation::describe_db_cluster_parameters::DescribeDbClusterParametersOutput;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
    use aws_sdk_rds::operation::modify_db_cluster_parameter_group::ModifyDbClusterParameterGroupOutput;
    use aws_sdk_rds::operation::remove_tags_from_resource::RemoveTagsFromResourceOutput;
    use aws_sdk_rds::operation::reset_db_cluster_parameter_group::ResetDbClusterParameterGroupOutput;
    use aws_smithy_mocks::{mock, Rule};
    use std::sync::{Arc, Mutex};
    use time::macros::datetime;

    const ARN: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:orders";
    const FENCE_SG: &str = "sg-0fe0ce0000000000f";

    fn record(read_only: Option<&str>) -> FenceRecord {
        FenceRecord {
            cluster_id: "orders".into(),
            methods: vec![FenceMethod::SecurityGroup, FenceMethod::ReadOnly],
            original_security_group_ids: Some(vec![
                "sg-0aaaaaaaaaaaaaaaa".into(),
                "sg-0bbbbbbbbbbbbbbbb".into(),
            ]),
            fence_security_group_id: Some(FENCE_SG.into()),
            parameter_group: Some("orders-params".into()),
            original_read_only: read_only.map(str::to_string),
            fenced_at: datetime!(2026-11-27 12:00 UTC),
        }
    }

    fn cluster(groups: &[&str], tags: Vec<Tag>) -> DescribeDbClustersOutput {
        let mut builder = rds::DbCluster::builder()
            .db_cluster_identifier("orders")
            .db_cluster_arn(ARN)
            .engine("aurora-mysql")
            .db_cluster_parameter_group("orders-params");
        for group in groups {
            builder = builder.vpc_security_groups(
                rds::VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id(*group)
                    .build(),
            );
        }
        for tag in tags {
            builder = builder.tag_list(rds::Tag::builder().key(tag.key).value(tag.value).build());
        }
        DescribeDbClustersOutput::builder()
            .db_clusters(builder.build())
            .build()
    }

    fn read_only_is(value: Option<&'static str>) -> Rule {
        mock!(Client::describe_db_cluster_parameters)
            .match_requests(|r| r.db_cluster_parameter_group_name() == Some("orders-params"))
            .then_output(move || {
                DescribeDbClusterParametersOutput::builder()
                    .parameters(
                        rds::Parameter::builder()
                            .parameter_name("read_only")
                            .set_parameter_value(value.map(str::to_string))
                            .build(),
                    )
                    .build()
            })
    }

    /// The order in which the mutating calls happened.
    #[derive(Clone, Default)]
    struct Calls(Arc<Mutex<Vec<&'static str>>>);

    impl Calls {
        fn log(&self, call: &'static str) {
            self.0.lock().unwrap().push(call);
        }
        fn list(&self) -> Vec<&'static str> {
            self.0.lock().unwrap().clone()
        }
    }

    #[test]
    fn a_record_round_trips_through_tags_that_fit_rds_limits() {
        let mut long = record(Some("0"));
        long.original_security_group_ids = Some((0..16).map(|i| format!("sg-0{i:016x}")).collect());
        let tags = encode_record(&long).unwrap();
        assert!(tags.len() > 2, "split over several tags");
        for tag in &tags {
            assert!(tag.key.len() <= 128);
            assert!(tag.value.len() <= 256);
            assert!(tag
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c)));
        }
        assert_eq!(decode_record(&tags).unwrap(), Some(long));
        assert_eq!(decode_record(&[Tag::new("team", "x")]).unwrap(), None);
        let mut broken = tags.clone();
        broken.retain(|t| t.key != "aurora-encrypt:fence:1");
        assert!(decode_record(&broken).is_err());
    }

    #[tokio::test]
    async fn apply_saves_the_record_before_moving_the_cluster_and_setting_read_only() {
        let calls = Calls::default();
        let describe = mock!(Client::describe_db_clusters)
            .then_output(|| cluster(&["sg-0aaaaaaaaaaaaaaaa", "sg-0bbbbbbbbbbbbbbbb"], vec![]));
        let params = read_only_is(None);
        let (c1, c2, c3) = (calls.clone(), calls.clone(), calls.clone());
        let tag = mock!(Client::add_tags_to_resource)
            .match_requests(|r| {
                r.resource_name() == Some(ARN)
                    && decode_record(
                        &r.tags()
                            .iter()
                            .map(|t| Tag::new(t.key().unwrap(), t.value().unwrap()))
                            .collect::<Vec<_>>(),
                    )
                    .unwrap()
                        == Some(record(None))
            })
            .then_compute_output(move |_| {
                c1.log("tag");
                AddTagsToResourceOutput::builder().build()
            });
        let modify = mock!(Client::modify_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders")
                    && r.vpc_security_group_ids() == [FENCE_SG.to_string()]
                    && r.apply_immediately() == Some(true)
            })
            .then_compute_output(move |_| {
                c2.log("modify-cluster");
                ModifyDbClusterOutput::builder().build()
            });
        let set = mock!(Client::modify_db_cluster_parameter_group)
            .match_requests(|r| {
                let p = &r.parameters()[0];
                r.db_cluster_parameter_group_name() == Some("orders-params")
                    && p.parameter_name() == Some("read_only")
                    && p.parameter_value() == Some("1")
                    && p.apply_method() == Some(&ApplyMethod::Immediate)
            })
            .then_compute_output(move |_| {
                c3.log("set-read-only");
                ModifyDbClusterParameterGroupOutput::builder().build()
            });
        let fence = RdsWriteFence::from_client(client!(
            aws_sdk_rds,
            &describe,
            &params,
            &tag,
            &modify,
            &set
        ));

        fence.apply(&record(None)).await.unwrap();

        assert_eq!(calls.list(), vec!["tag", "modify-cluster", "set-read-only"]);
    }

    #[tokio::test]
    async fn apply_on_a_fenced_cluster_changes_nothing() {
        let describe = mock!(Client::describe_db_clusters)
            .then_output(|| cluster(&[FENCE_SG], encode_record(&record(None)).unwrap()));
        let params = read_only_is(Some("1"));
        let tag = mock!(Client::add_tags_to_resource)
            .then_output(|| AddTagsToResourceOutput::builder().build());
        let modify = mock!(Client::modify_db_cluster)
            .then_output(|| ModifyDbClusterOutput::builder().build());
        let set = mock!(Client::modify_db_cluster_parameter_group)
            .then_output(|| ModifyDbClusterParameterGroupOutput::builder().build());
        let fence = RdsWriteFence::from_client(client!(
            aws_sdk_rds,
            &describe,
            &params,
            &tag,
            &modify,
            &set
        ));

        fence.apply(&record(None)).await.unwrap();
        assert_eq!(
            fence.saved_record("orders").await.unwrap(),
            Some(record(None))
        );
        assert_eq!(
            (tag.num_calls(), modify.num_calls(), set.num_calls()),
            (0, 0, 0)
        );
    }

    #[tokio::test]
    async fn lift_restores_the_groups_resets_a_default_read_only_and_forgets_the_record() {
        let calls = Calls::default();
        let describe = mock!(Client::describe_db_clusters)
            .then_output(|| cluster(&[FENCE_SG], encode_record(&record(None)).unwrap()));
        let params = read_only_is(Some("1"));
        let (c1, c2, c3) = (calls.clone(), calls.clone(), calls.clone());
        let modify = mock!(Client::modify_db_cluster)
            .match_requests(|r| {
                r.vpc_security_group_ids()
                    == [
                        "sg-0aaaaaaaaaaaaaaaa".to_string(),
                        "sg-0bbbbbbbbbbbbbbbb".to_string(),
                    ]
                    && r.apply_immediately() == Some(true)
            })
            .then_compute_output(move |_| {
                c1.log("modify-cluster");
                ModifyDbClusterOutput::builder().build()
            });
        let reset = mock!(Client::reset_db_cluster_parameter_group)
            .match_requests(|r| {
                r.db_cluster_parameter_group_name() == Some("orders-params")
                    && r.reset_all_parameters() == Some(false)
                    && r.parameters()[0].parameter_name() == Some("read_only")
                    && r.parameters()[0].apply_method() == Some(&ApplyMethod::Immediate)
            })
            .then_compute_output(move |_| {
                c2.log("reset-read-only");
                ResetDbClusterParameterGroupOutput::builder().build()
            });
        let untag = mock!(Client::remove_tags_from_resource)
            .match_requests(|r| {
                r.resource_name() == Some(ARN)
                    && r.tag_keys()
                        .contains(&"aurora-encrypt:fence:parts".to_string())
                    && r.tag_keys().contains(&"aurora-encrypt:fence:0".to_string())
            })
            .then_compute_output(move |_| {
                c3.log("untag");
                RemoveTagsFromResourceOutput::builder().build()
            });
        let fence = RdsWriteFence::from_client(client!(
            aws_sdk_rds,
            &describe,
            &params,
            &modify,
            &reset,
            &untag
        ));

        fence.lift(&record(None)).await.unwrap();

        assert_eq!(
            calls.list(),
            vec!["modify-cluster", "reset-read-only", "untag"]
        );
    }

    #[tokio::test]
    async fn lift_restores_an_explicit_read_only_value() {
        let describe = mock!(Client::describe_db_clusters)
            .then_output(|| cluster(&["sg-0aaaaaaaaaaaaaaaa", "sg-0bbbbbbbbbbbbbbbb"], vec![]));
        let params = read_only_is(Some("1"));
        let set = mock!(Client::modify_db_cluster_parameter_group)
            .match_requests(|r| r.parameters()[0].parameter_value() == Some("0"))
            .then_output(|| ModifyDbClusterParameterGroupOutput::builder().build());
        let modify = mock!(Client::modify_db_cluster)
            .then_output(|| ModifyDbClusterOutput::builder().build());
        let fence =
            RdsWriteFence::from_client(client!(aws_sdk_rds, &describe, &params, &set, &modify));
        fence.lift(&record(Some("0"))).await.unwrap();
        assert_eq!(set.num_calls(), 1);
        assert_eq!(modify.num_calls(), 0, "groups already the original ones");
    }

    #[tokio::test]
    async fn current_reads_groups_and_read_only() {
        let describe = mock!(Client::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders"))
            .then_output(|| cluster(&["sg-0aaaaaaaaaaaaaaaa"], vec![]));
        let params = read_only_is(Some("0"));
        let fence = RdsWriteFence::from_client(client!(aws_sdk_rds, &describe, &params));
        assert_eq!(
            fence.current("orders").await.unwrap(),
            FenceState {
                security_group_ids: vec!["sg-0aaaaaaaaaaaaaaaa".into()],
                parameter_group: Some("orders-params".into()),
                read_only: Some("0".into()),
            }
        );
    }

    #[tokio::test]
    async fn errors_are_classified_and_stop_before_any_change() {
        for (code, status, check) in [
            (
                "Throttling",
                400,
                (|e: &PortError| matches!(e, PortError::Transient(_))) as fn(&PortError) -> bool,
            ),
            ("DBClusterNotFoundFault", 404, |e| {
                e.is_not_found(Resource::Cluster)
            }),
            ("AccessDenied", 403, |e| {
                matches!(e, PortError::AccessDenied(_))
            }),
        ] {
            let describe = mock!(Client::describe_db_clusters)
                .then_http_response(move || xml_error(status, code));
            let tag = mock!(Client::add_tags_to_resource)
                .then_output(|| AddTagsToResourceOutput::builder().build());
            let modify = mock!(Client::modify_db_cluster)
                .then_output(|| ModifyDbClusterOutput::builder().build());
            let fence = RdsWriteFence::from_client(client!(aws_sdk_rds, &describe, &tag, &modify));
            let error = fence.apply(&record(None)).await.unwrap_err();
            assert!(check(&error), "{code}: {error:?}");
            assert_eq!((tag.num_calls(), modify.num_calls()), (0, 0), "{code}");
        }
    }

    #[tokio::test]
    async fn a_refused_modification_is_classified() {
        let describe = mock!(Client::describe_db_clusters)
            .then_output(|| cluster(&["sg-0aaaaaaaaaaaaaaaa"], vec![]));
        let tag = mock!(Client::add_tags_to_resource)
            .then_output(|| AddTagsToResourceOutput::builder().build());
        let modify = mock!(Client::modify_db_cluster)
            .then_http_response(|| xml_error(400, "InvalidDBClusterStateFault"));
        let fence = RdsWriteFence::from_client(client!(aws_sdk_rds, &describe, &tag, &modify));
        let error = fence.apply(&record(None)).await.unwrap_err();
        assert!(matches!(error, PortError::InvalidState(_)), "{error:?}");
        assert_eq!(tag.num_calls(), 1, "the record was saved first");
    }

    /// Bad input through the step over this adapter: each fails with its name and the smithy
    /// mocks see no tagging or modifying call.
    #[cfg(feature = "sql")]
    #[tokio::test]
    async fn bad_fence_input_changes_nothing_on_rds() {
        use crate::params::RdsClusterParameters;
        use aurora_core::errors::NamedError;
        use aurora_core::ports::SystemClock;
        use aurora_core::steps::fence_writes::{self, FenceSettings, FenceWritesInput};

        use aws_sdk_rds::operation::describe_db_clusters::DescribeDBClustersError;
        use aws_smithy_mocks::MockResponse;
        type Describe = fn() -> MockResponse<DescribeDbClustersOutput, DescribeDBClustersError>;
        let on_fence: Describe = || MockResponse::Output(cluster(&[FENCE_SG], vec![]));
        let normal: Describe = || MockResponse::Output(cluster(&["sg-0aaaaaaaaaaaaaaaa"], vec![]));
        let default_group: Describe = || {
            let mut out = cluster(&["sg-0aaaaaaaaaaaaaaaa"], vec![]);
            if let Some(c) = out.db_clusters.as_mut().and_then(|c| c.first_mut()) {
                c.db_cluster_parameter_group = Some("default.aurora-mysql8.0".into());
            }
            MockResponse::Output(out)
        };
        let missing: Describe = || MockResponse::Http(xml_error(404, "DBClusterNotFoundFault"));
        let throttled: Describe = || MockResponse::Http(xml_error(400, "Throttling"));
        let cases: Vec<(&str, serde_json::Value, Describe, bool, &str)> = vec![
            (
                "read_only in a shared group",
                serde_json::json!(["read-only"]),
                normal,
                true,
                "SharedParameterGroup",
            ),
            (
                "read_only in a default group",
                serde_json::json!(["read-only"]),
                default_group,
                false,
                "SharedParameterGroup",
            ),
            (
                "fenced outside this run",
                serde_json::json!(["security-group"]),
                on_fence,
                false,
                "InvalidInput",
            ),
            (
                "unknown cluster",
                serde_json::json!(["security-group", "read-only"]),
                missing,
                false,
                "SourceNotFound",
            ),
            (
                "throttled",
                serde_json::json!(["read-only"]),
                throttled,
                false,
                "Transient",
            ),
        ];
        for (case, methods, describe, shared, name) in cases {
            let one = mock!(Client::describe_db_clusters)
                .match_requests(|r| r.db_cluster_identifier() == Some("orders"))
                .then_compute_response(move |_| describe());
            let all = mock!(Client::describe_db_clusters)
                .match_requests(|r| r.db_cluster_identifier().is_none())
                .then_output(move || {
                    let user = |id: &str| {
                        rds::DbCluster::builder()
                            .db_cluster_identifier(id)
                            .db_cluster_parameter_group("orders-params")
                            .build()
                    };
                    let mut out = DescribeDbClustersOutput::builder().db_clusters(user("orders"));
                    if shared {
                        out = out.db_clusters(user("payments"));
                    }
                    out.build()
                });
            let params = mock!(Client::describe_db_cluster_parameters)
                .then_output(|| DescribeDbClusterParametersOutput::builder().build());
            let tag = mock!(Client::add_tags_to_resource)
                .then_output(|| AddTagsToResourceOutput::builder().build());
            let modify = mock!(Client::modify_db_cluster)
                .then_output(|| ModifyDbClusterOutput::builder().build());
            let set = mock!(Client::modify_db_cluster_parameter_group)
                .then_output(|| ModifyDbClusterParameterGroupOutput::builder().build());
            let client = client!(aws_sdk_rds, &one, &all, &params, &tag, &modify, &set);
            let fence = RdsWriteFence::from_client(client.clone());
            let parameters = RdsClusterParameters::from_client(client);
            let input: FenceWritesInput = serde_json::from_value(serde_json::json!({
                "action": "fence",
                "sourceClusterId": "orders",
                "switchover": {"fence": methods, "fenceSecurityGroupId": FENCE_SG},
                "execution": {"name": "exec-1"}
            }))
            .unwrap();

            // The refusal comes before the SQL half, which has nowhere to connect here.
            let sql = aurora_sql::SqlFence::new(aurora_sql::FixedWriters(Vec::new()));
            let lock = aurora_core::fakes::FakeSourceLock::default();
            let deps = fence_writes::Deps {
                fence: &fence,
                parameters: &parameters,
                sql: &sql,
                clock: &SystemClock,
                sleeper: &aurora_core::ports::TokioSleeper,
                lock: &lock,
                settings: FenceSettings::default(),
            };
            let error = fence_writes::run(&input, &deps).await.expect_err(case);

            assert_eq!(error.error_name(), name, "{case}: {error}");
            assert_eq!(
                (tag.num_calls(), modify.num_calls(), set.num_calls()),
                (0, 0, 0),
                "{case}: no create/modify call"
            );
        }
    }
}

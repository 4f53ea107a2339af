//! [`Dns`] over Route 53: read a record, UPSERT a CNAME, and poll the change until `INSYNC`.
//!
//! Route 53 hands out ids with a `/hostedzone/` or `/change/` prefix; the adapter accepts either
//! form and always returns bare ids, so a change id survives a round trip through the state
//! document unchanged.

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{ChangeStatus, Dns, DnsChange, DnsRecord, PortResult};
use aws_config::SdkConfig;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus as Route53Status, ResourceRecord,
    ResourceRecordSet, RrType,
};
use aws_sdk_route53::Client;

use crate::build_error;
use crate::classify::classify;

#[derive(Clone, Debug)]
pub struct Route53Dns {
    client: Client,
}

impl Route53Dns {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

/// `Z123` from `/hostedzone/Z123` or `Z123`.
pub fn bare_zone_id(zone_id: &str) -> &str {
    zone_id.trim_start_matches("/hostedzone/")
}

/// `C123` from `/change/C123` or `C123`.
pub fn bare_change_id(change_id: &str) -> &str {
    change_id.trim_start_matches("/change/")
}

/// Route 53 answers names fully qualified (trailing dot) and in lower case.
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

fn change_status(status: &Route53Status) -> ChangeStatus {
    match status {
        Route53Status::Insync => ChangeStatus::Insync,
        // Pending, or a status added later: keep polling rather than claim it is done.
        _ => ChangeStatus::Pending,
    }
}

fn record_from(set: &ResourceRecordSet) -> DnsRecord {
    DnsRecord {
        name: set.name().trim_end_matches('.').to_string(),
        record_type: set.r#type().as_str().to_string(),
        // An alias points at an AWS resource, not at a value this tool could compare.
        value: if set.alias_target().is_some() {
            None
        } else {
            set.resource_records()
                .first()
                .map(|r| r.value().to_string())
        },
        ttl: set.ttl(),
    }
}

#[async_trait]
impl Dns for Route53Dns {
    async fn resolve(&self, zone_id: &str, name: &str) -> PortResult<Option<DnsRecord>> {
        let zone = bare_zone_id(zone_id);
        // Listing starts at the name; records come sorted by name, then type, so the first
        // record either has this name or no record does. Later pages only matter while a
        // page holds nothing but other records of this name (weighted sets, say).
        let mut start_name = name.to_string();
        let mut start_type: Option<RrType> = None;
        let mut start_identifier: Option<String> = None;
        loop {
            let page = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(&start_name)
                .set_start_record_type(start_type.take())
                .set_start_record_identifier(start_identifier.take())
                .send()
                .await
                .map_err(|e| classify(e, Resource::HostedZone, zone))?;
            let sets = page.resource_record_sets();
            if let Some(set) = sets.iter().find(|s| same_name(s.name(), name)) {
                return Ok(Some(record_from(set)));
            }
            let past_the_name = sets.iter().any(|s| !same_name(s.name(), name));
            match (page.is_truncated(), page.next_record_name()) {
                (true, Some(next)) if !past_the_name && same_name(next, name) => {
                    start_name = next.to_string();
                    start_type = page.next_record_type().cloned();
                    start_identifier = page.next_record_identifier().map(str::to_string);
                }
                _ => return Ok(None),
            }
        }
    }

    async fn upsert_cname(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> PortResult<DnsChange> {
        let zone = bare_zone_id(zone_id);
        let record = ResourceRecord::builder()
            .value(value)
            .build()
            .map_err(|e| build_error("DNS record", e))?;
        let set = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .ttl(ttl_seconds)
            .resource_records(record)
            .build()
            .map_err(|e| build_error("DNS record set", e))?;
        let change = Change::builder()
            .action(ChangeAction::Upsert)
            .resource_record_set(set)
            .build()
            .map_err(|e| build_error("DNS change", e))?;
        let batch = ChangeBatch::builder()
            .comment("aurora-encrypt switchover")
            .changes(change)
            .build()
            .map_err(|e| build_error("DNS change batch", e))?;
        let output = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Record, name))?;
        let info = output.change_info().ok_or_else(|| {
            PortError::Other(format!("Route 53 returned no change info for {name}"))
        })?;
        Ok(DnsChange {
            id: bare_change_id(info.id()).to_string(),
            status: change_status(info.status()),
        })
    }

    async fn change_status(&self, change_id: &str) -> PortResult<ChangeStatus> {
        let id = bare_change_id(change_id);
        let output = self
            .client
            .get_change()
            .id(id)
            .send()
            .await
            .map_err(|e| classify(e, Resource::DnsChange, id))?;
        let info = output.change_info().ok_or_else(|| {
            PortError::Other(format!("Route 53 returned no change info for {id}"))
        })?;
        Ok(change_status(info.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, xml_error};
    use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
    use aws_sdk_route53::operation::get_change::GetChangeOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    use aws_sdk_route53::types::{AliasTarget, ChangeInfo};
    use aws_sdk_route53::Client;
    use aws_smithy_mocks::mock;

    fn cname(name: &str, value: &str) -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value(value).build().unwrap())
            .build()
            .unwrap()
    }

    fn info(id: &str, status: Route53Status) -> ChangeInfo {
        ChangeInfo::builder()
            .id(id)
            .status(status)
            .submitted_at(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap()
    }

    fn listing(sets: Vec<ResourceRecordSet>) -> ListResourceRecordSetsOutput {
        ListResourceRecordSetsOutput::builder()
            .set_resource_record_sets(Some(sets))
            .is_truncated(false)
            .max_items(300)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn resolve_matches_the_name_ignoring_case_and_trailing_dot() {
        let rule = mock!(Client::list_resource_record_sets)
            .match_requests(|r| {
                r.hosted_zone_id() == Some("Z0123")
                    && r.start_record_name() == Some("Orders-DB.example.com")
            })
            .then_output(|| {
                listing(vec![cname(
                    "orders-db.example.com.",
                    "orders.cluster-x.rds.amazonaws.com",
                )])
            });
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));

        let record = dns
            .resolve("/hostedzone/Z0123", "Orders-DB.example.com")
            .await
            .unwrap();

        assert_eq!(
            record,
            Some(DnsRecord {
                name: "orders-db.example.com".into(),
                record_type: "CNAME".into(),
                value: Some("orders.cluster-x.rds.amazonaws.com".into()),
                ttl: Some(60),
            })
        );
    }

    #[tokio::test]
    async fn resolve_ignores_the_next_name_in_the_zone() {
        let rule = mock!(Client::list_resource_record_sets).then_output(|| {
            listing(vec![cname(
                "orders-db2.example.com.",
                "elsewhere.example.com",
            )])
        });
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));
        assert_eq!(
            dns.resolve("Z0123", "orders-db.example.com").await,
            Ok(None)
        );
    }

    #[tokio::test]
    async fn alias_records_have_no_value() {
        let rule = mock!(Client::list_resource_record_sets).then_output(|| {
            let alias = ResourceRecordSet::builder()
                .name("orders-db.example.com.")
                .r#type(RrType::A)
                .alias_target(
                    AliasTarget::builder()
                        .hosted_zone_id("Z2")
                        .dns_name("lb.example.com")
                        .evaluate_target_health(false)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            listing(vec![alias])
        });
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));
        let record = dns
            .resolve("Z0123", "orders-db.example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.record_type, "A");
        assert_eq!(record.value, None);
    }

    #[tokio::test]
    async fn resolve_in_a_missing_zone_is_not_found() {
        let rule = mock!(Client::list_resource_record_sets)
            .then_http_response(|| xml_error(404, "NoSuchHostedZone"));
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));
        let error = dns
            .resolve("Z0123", "orders-db.example.com")
            .await
            .unwrap_err();
        assert!(error.is_not_found(Resource::HostedZone), "{error:?}");
    }

    #[tokio::test]
    async fn upsert_sends_one_cname_upsert_with_ttl_and_value() {
        let rule = mock!(Client::change_resource_record_sets)
            .match_requests(|r| {
                let Some(batch) = r.change_batch() else {
                    return false;
                };
                let [change] = batch.changes() else {
                    return false;
                };
                let Some(set) = change.resource_record_set() else {
                    return false;
                };
                r.hosted_zone_id() == Some("Z0123")
                    && change.action() == &ChangeAction::Upsert
                    && set.name() == "orders-db.example.com"
                    && set.r#type() == &RrType::Cname
                    && set.ttl() == Some(30)
                    && set.resource_records().len() == 1
                    && set.resource_records()[0].value()
                        == "orders-encrypted.cluster-x.rds.amazonaws.com"
            })
            .then_output(|| {
                ChangeResourceRecordSetsOutput::builder()
                    .change_info(info("/change/C2A", Route53Status::Pending))
                    .build()
            });
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));

        let change = dns
            .upsert_cname(
                "/hostedzone/Z0123",
                "orders-db.example.com",
                "orders-encrypted.cluster-x.rds.amazonaws.com",
                30,
            )
            .await
            .unwrap();

        assert_eq!(
            change,
            DnsChange {
                id: "C2A".into(),
                status: ChangeStatus::Pending
            }
        );
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn upsert_while_another_change_is_applied_is_transient() {
        let rule = mock!(Client::change_resource_record_sets)
            .then_http_response(|| xml_error(400, "PriorRequestNotComplete"));
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));
        let error = dns
            .upsert_cname("Z0123", "a.example.com", "b.example.com", 30)
            .await
            .unwrap_err();
        assert!(matches!(error, PortError::Transient(_)), "{error:?}");
    }

    #[tokio::test]
    async fn invalid_change_batch_is_an_invalid_request() {
        let rule = mock!(Client::change_resource_record_sets)
            .then_http_response(|| xml_error(400, "InvalidChangeBatch"));
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));
        let error = dns
            .upsert_cname("Z0123", "a.example.com", "b.example.com", 30)
            .await
            .unwrap_err();
        assert!(matches!(error, PortError::InvalidRequest(_)), "{error:?}");
    }

    #[tokio::test]
    async fn change_status_accepts_either_id_form() {
        let rule = mock!(Client::get_change)
            .match_requests(|r| r.id() == Some("C2A"))
            .then_output(|| {
                GetChangeOutput::builder()
                    .change_info(info("/change/C2A", Route53Status::Insync))
                    .build()
            });
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));
        assert_eq!(dns.change_status("C2A").await, Ok(ChangeStatus::Insync));
        assert_eq!(
            dns.change_status("/change/C2A").await,
            Ok(ChangeStatus::Insync)
        );
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn unknown_change_is_not_found() {
        let rule = mock!(Client::get_change).then_http_response(|| xml_error(404, "NoSuchChange"));
        let dns = Route53Dns::from_client(client!(aws_sdk_route53, &rule));
        let error = dns.change_status("C404").await.unwrap_err();
        assert!(error.is_not_found(Resource::DnsChange), "{error:?}");
    }
}

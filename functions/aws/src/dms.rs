//! [`Replication`] over AWS DMS *homogeneous data migrations* (not classic replication tasks):
//! two data providers (engine `aurora`, Aurora MySQL), an instance profile, a migration project
//! and a `cdc` data migration that starts at the restored cluster's binlog position.
//!
//! Every resource is named from [`CdcRequest::name`] (`<name>-source`, `<name>-target`,
//! `<name>-profile`, `<name>-project`, and `<name>` for the data migration), so
//! [`ensure_cdc`](DmsReplication::ensure_cdc) looks each one up by name first and creates only
//! what is missing: a retried or re-run step never duplicates anything.

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{
    CdcRequest, DatabaseEndpoint, PortResult, Replication, ReplicationHandle, ReplicationState,
    ReplicationStatus, Tag,
};
use aurora_core::spec::{DmsReplication as DmsSettings, ReplicationSpec};
use aws_config::SdkConfig;
use aws_sdk_databasemigration::types::{
    self as dms, DataProviderDescriptorDefinition, DataProviderSettings, DmsSslModeValue, Filter,
    MigrationTypeValue, MySqlDataProviderSettings, SourceDataSetting,
    StartReplicationMigrationTypeValue,
};
use aws_sdk_databasemigration::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

use crate::build_error;
use crate::classify::{classify, not_yet_visible};

/// The data provider engine name DMS uses for Aurora MySQL ("A value of aurora represents Amazon
/// Aurora MySQL-Compatible Edition", CreateDataProvider API reference).
pub const AURORA_MYSQL_ENGINE: &str = "aurora";
pub const ENGINE: &str = "dms";

#[derive(Clone, Debug)]
pub struct DmsReplication {
    client: Client,
}

impl DmsReplication {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

/// The names of everything one replication consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    pub source_provider: String,
    pub target_provider: String,
    pub instance_profile: String,
    pub project: String,
    pub migration: String,
}

impl ResourceNames {
    pub fn for_name(name: &str) -> Self {
        Self {
            source_provider: format!("{name}-source"),
            target_provider: format!("{name}-target"),
            instance_profile: format!("{name}-profile"),
            project: format!("{name}-project"),
            migration: name.to_string(),
        }
    }
}

/// Maps a `DataMigrationStatus` to a state. The documented statuses are Creating, Ready,
/// Starting, Load running, Load complete replication ongoing, Replication ongoing, Reloading
/// target, Stopping, Stopped and Failed ("Statuses of homogeneous data migrations", DMS user
/// guide); the API's spelling (case, spaces, `_` or `-`) is not documented, so it is normalised.
/// An unknown status is [`ReplicationState::Unknown`], never a guess: the raw text stays in
/// `status_text` for the operator.
pub fn state_from_status(status: &str) -> ReplicationState {
    let normalised: String = status
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    match normalised.as_str() {
        "creating" | "modifying" => ReplicationState::Creating,
        "ready" => ReplicationState::Ready,
        "starting" | "reloading-target" | "reloading" => ReplicationState::Starting,
        "running"
        | "load-running"
        | "replication-ongoing"
        | "load-complete-replication-ongoing" => ReplicationState::Running,
        "stopping" => ReplicationState::Stopping,
        "stopped" | "load-complete" | "complete" | "completed" => ReplicationState::Stopped,
        "failed" | "error" => ReplicationState::Failed,
        "deleting" => ReplicationState::Deleting,
        _ => ReplicationState::Unknown,
    }
}

fn dms_settings(request: &CdcRequest) -> PortResult<&DmsSettings> {
    match &request.settings {
        ReplicationSpec::Dms(settings) => Ok(settings),
        ReplicationSpec::Native(_) => Err(PortError::InvalidRequest(
            "the DMS adapter only runs engine dms".into(),
        )),
    }
}

fn tags_to_dms(tags: &[Tag]) -> Option<Vec<dms::Tag>> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|t| dms::Tag::builder().key(&t.key).value(&t.value).build())
            .collect()
    })
}

fn identifier_filter(name: &str, value: &str) -> PortResult<Filter> {
    Filter::builder()
        .name(name)
        .values(value)
        .build()
        .map_err(|e| build_error("DMS filter", e))
}

fn missing_arn(what: &str, name: &str) -> PortError {
    PortError::Other(format!("DMS returned no ARN for {what} {name}"))
}

/// Finds one resource by exact name through a `Describe*` call with an identifier filter,
/// following `Marker` pages. Evaluates to `PortResult<Option<String>>` (the ARN).
macro_rules! find_arn_by_name {
    ($self:ident, $describe:ident, $filter:literal, $name:expr, $list:ident, $name_of:ident, $arn_of:ident) => {{
        let name: &str = $name;
        let filter = identifier_filter($filter, name)?;
        let mut marker: Option<String> = None;
        let mut found: Option<String> = None;
        loop {
            let page = $self
                .client
                .$describe()
                .filters(filter.clone())
                .set_marker(marker.take())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => match classify(e, Resource::Migration, name) {
                    // Some Describe* calls answer a filter that matches nothing with not-found.
                    PortError::NotFound { .. } => break,
                    other => return Err(other),
                },
            };
            // The filter also matches ARNs; only an exact name counts.
            if let Some(item) = page
                .$list()
                .iter()
                .find(|item| item.$name_of() == Some(name))
            {
                found = Some(
                    item.$arn_of()
                        .ok_or_else(|| missing_arn(stringify!($list), name))?
                        .to_string(),
                );
                break;
            }
            match page.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => break,
            }
        }
        Ok::<Option<String>, PortError>(found)
    }};
}

impl DmsReplication {
    async fn find_data_provider(&self, name: &str) -> PortResult<Option<String>> {
        find_arn_by_name!(
            self,
            describe_data_providers,
            "data-provider-identifier",
            name,
            data_providers,
            data_provider_name,
            data_provider_arn
        )
    }

    async fn find_instance_profile(&self, name: &str) -> PortResult<Option<String>> {
        find_arn_by_name!(
            self,
            describe_instance_profiles,
            "instance-profile-identifier",
            name,
            instance_profiles,
            instance_profile_name,
            instance_profile_arn
        )
    }

    async fn find_project(&self, name: &str) -> PortResult<Option<String>> {
        find_arn_by_name!(
            self,
            describe_migration_projects,
            "migration-project-identifier",
            name,
            migration_projects,
            migration_project_name,
            migration_project_arn
        )
    }

    async fn find_migration(&self, name: &str) -> PortResult<Option<String>> {
        match self.find_data_migration(None, name).await? {
            Some(migration) => migration
                .data_migration_arn()
                .map(|arn| Some(arn.to_string()))
                .ok_or_else(|| missing_arn("data migration", name)),
            None => Ok(None),
        }
    }

    /// The data migration with this ARN or this name. DescribeDataMigrations documents no filter
    /// names (unlike the other DMS Describe* calls, whose `*-identifier` filters are documented),
    /// so every page is listed and matched here; `WithoutSettings` keeps the pages small.
    async fn find_data_migration(
        &self,
        arn: Option<&str>,
        name: &str,
    ) -> PortResult<Option<dms::DataMigration>> {
        self.find_data_migration_seen(arn, name, &RawPages::default())
            .await
    }

    /// [`Self::find_data_migration`], keeping each page as DMS sent it in `raw`.
    async fn find_data_migration_seen(
        &self,
        arn: Option<&str>,
        name: &str,
        raw: &RawPages,
    ) -> PortResult<Option<dms::DataMigration>> {
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_data_migrations()
                .without_settings(true)
                .set_marker(marker.take())
                .customize()
                .interceptor(raw.clone())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => match classify(e, Resource::Migration, arn.unwrap_or(name)) {
                    PortError::NotFound { .. } => return Ok(None),
                    other => return Err(other),
                },
            };
            let found = page.data_migrations().iter().find(|m| {
                arn.is_some_and(|arn| m.data_migration_arn() == Some(arn))
                    || m.data_migration_name() == Some(name)
            });
            if let Some(migration) = found {
                return Ok(Some(migration.clone()));
            }
            match page.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => return Ok(None),
            }
        }
    }

    async fn ensure_data_provider(
        &self,
        name: &str,
        endpoint: &DatabaseEndpoint,
        tags: &[Tag],
    ) -> PortResult<String> {
        if let Some(arn) = self.find_data_provider(name).await? {
            return Ok(arn);
        }
        // TLS without certificate verification: the traffic is encrypted (the point of this
        // project) without needing the RDS CA bundle imported into DMS first.
        let settings = MySqlDataProviderSettings::builder()
            .server_name(&endpoint.host)
            .port(endpoint.port)
            .ssl_mode(DmsSslModeValue::Require)
            .build();
        let created = self
            .client
            .create_data_provider()
            .data_provider_name(name)
            .engine(AURORA_MYSQL_ENGINE)
            .settings(DataProviderSettings::MySqlSettings(settings))
            .set_tags(tags_to_dms(tags))
            .send()
            .await;
        match created {
            Ok(output) => output
                .data_provider()
                .and_then(|p| p.data_provider_arn())
                .map(str::to_string)
                .ok_or_else(|| missing_arn("data provider", name)),
            Err(e) => self.lost_race(
                classify(e, Resource::Migration, name),
                self.find_data_provider(name).await,
            ),
        }
    }

    async fn ensure_instance_profile(
        &self,
        name: &str,
        settings: &DmsSettings,
        tags: &[Tag],
    ) -> PortResult<String> {
        if let Some(arn) = self.find_instance_profile(name).await? {
            return Ok(arn);
        }
        let profile = &settings.instance_profile;
        let created = self
            .client
            .create_instance_profile()
            .instance_profile_name(name)
            .subnet_group_identifier(&profile.subnet_group_identifier)
            .set_vpc_security_groups(
                (!profile.vpc_security_group_ids.is_empty())
                    .then(|| profile.vpc_security_group_ids.clone()),
            )
            .publicly_accessible(profile.publicly_accessible)
            .set_tags(tags_to_dms(tags))
            .send()
            .await;
        match created {
            Ok(output) => output
                .instance_profile()
                .and_then(|p| p.instance_profile_arn())
                .map(str::to_string)
                .ok_or_else(|| missing_arn("instance profile", name)),
            Err(e) => self.lost_race(
                classify(e, Resource::Migration, name),
                self.find_instance_profile(name).await,
            ),
        }
    }

    async fn ensure_project(
        &self,
        names: &ResourceNames,
        arns: (&str, &str, &str),
        settings: &DmsSettings,
        tags: &[Tag],
    ) -> PortResult<String> {
        let name = names.project.as_str();
        if let Some(arn) = self.find_project(name).await? {
            return Ok(arn);
        }
        let (source_arn, target_arn, profile_arn) = arns;
        let secrets_role = settings
            .secrets_access_role_arn
            .as_deref()
            .unwrap_or(&settings.service_role_arn);
        let descriptor = |provider: &str, secret: &str| {
            DataProviderDescriptorDefinition::builder()
                .data_provider_identifier(provider)
                .secrets_manager_secret_id(secret)
                .secrets_manager_access_role_arn(secrets_role)
                .build()
                .map_err(|e| build_error("DMS data provider descriptor", e))
        };
        let created = self
            .client
            .create_migration_project()
            .migration_project_name(name)
            .source_data_provider_descriptors(descriptor(source_arn, &settings.source_secret_arn)?)
            .target_data_provider_descriptors(descriptor(target_arn, &settings.target_secret_arn)?)
            .instance_profile_identifier(profile_arn)
            .set_tags(tags_to_dms(tags))
            .send()
            .await;
        match created {
            Ok(output) => output
                .migration_project()
                .and_then(|p| p.migration_project_arn())
                .map(str::to_string)
                .ok_or_else(|| missing_arn("migration project", name)),
            // The providers and the profile were found or created moments ago.
            Err(e) => self.lost_race(
                not_yet_visible(classify(e, Resource::Migration, name)),
                self.find_project(name).await,
            ),
        }
    }

    async fn ensure_migration(
        &self,
        request: &CdcRequest,
        project_arn: &str,
        settings: &DmsSettings,
    ) -> PortResult<String> {
        let name = request.name.as_str();
        if let Some(arn) = self.find_migration(name).await? {
            return Ok(arn);
        }
        let created = self
            .client
            .create_data_migration()
            .data_migration_name(name)
            .migration_project_identifier(project_arn)
            .data_migration_type(MigrationTypeValue::Cdc)
            .service_access_role_arn(&settings.service_role_arn)
            // Without logs a failed migration says little more than its LastFailureMessage.
            .enable_cloudwatch_logs(true)
            .source_data_settings(
                SourceDataSetting::builder()
                    .cdc_start_position(request.start.start_position())
                    .build(),
            )
            .set_tags(tags_to_dms(&request.tags))
            .send()
            .await;
        match created {
            Ok(output) => output
                .data_migration()
                .and_then(|m| m.data_migration_arn())
                .map(str::to_string)
                .ok_or_else(|| missing_arn("data migration", name)),
            // The project was found or created moments ago.
            Err(e) => self.lost_race(
                not_yet_visible(classify(e, Resource::Migration, name)),
                self.find_migration(name).await,
            ),
        }
    }

    /// A create that failed with already-exists lost a race with a concurrent run: what that run
    /// created is the answer. Any other failure stands.
    fn lost_race(
        &self,
        error: PortError,
        found_again: PortResult<Option<String>>,
    ) -> PortResult<String> {
        match (&error, found_again) {
            (PortError::AlreadyExists { .. }, Ok(Some(arn))) => Ok(arn),
            _ => Err(error),
        }
    }

    async fn describe(&self, handle: &ReplicationHandle) -> PortResult<dms::DataMigration> {
        self.find_data_migration(Some(&handle.id), &handle.name)
            .await?
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Migration,
                message: format!("data migration {}", handle.id),
            })
    }

    async fn state(&self, handle: &ReplicationHandle) -> PortResult<ReplicationState> {
        Ok(state_from_status(
            self.describe(handle)
                .await?
                .data_migration_status()
                .unwrap_or_default(),
        ))
    }
}

/// The DescribeDataMigrations responses of one read, as DMS sent them: the SDK reads an omitted
/// `CDCLatency` as 0, so whether it was sent is read from the JSON.
#[derive(Debug, Clone, Default)]
struct RawPages(Arc<Mutex<Vec<Vec<u8>>>>);

impl Intercept for RawPages {
    fn name(&self) -> &'static str {
        "RawPages"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(bytes.to_vec());
        }
        Ok(())
    }
}

impl RawPages {
    /// Whether DMS sent `DataMigrationStatistics.CDCLatency` for `migration`; `None` when no
    /// response text was seen (nothing to tell by: the typed value stands).
    fn latency_sent(&self, migration: &dms::DataMigration) -> Option<bool> {
        let pages = self.0.lock().unwrap_or_else(|p| p.into_inner());
        pages.iter().find_map(|page| {
            let page: serde_json::Value = serde_json::from_slice(page).ok()?;
            let found = page["DataMigrations"].as_array()?.iter().find(|m| {
                let arn = m["DataMigrationArn"].as_str();
                let name = m["DataMigrationName"].as_str();
                (arn.is_some() && arn == migration.data_migration_arn())
                    || (name.is_some() && name == migration.data_migration_name())
            })?;
            Some(found["DataMigrationStatistics"].get("CDCLatency").is_some())
        })
    }
}

/// Deleting something already gone is what `remove` wants.
fn ignore_missing(result: PortResult<()>) -> PortResult<()> {
    match result {
        Err(PortError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

#[async_trait]
impl Replication for DmsReplication {
    async fn ensure_cdc(&self, request: &CdcRequest) -> PortResult<ReplicationHandle> {
        let settings = dms_settings(request)?;
        let names = ResourceNames::for_name(&request.name);
        let source = self
            .ensure_data_provider(&names.source_provider, &request.source, &request.tags)
            .await?;
        let target = self
            .ensure_data_provider(&names.target_provider, &request.target, &request.tags)
            .await?;
        let profile = self
            .ensure_instance_profile(&names.instance_profile, settings, &request.tags)
            .await?;
        let project = self
            .ensure_project(
                &names,
                (&source, &target, &profile),
                settings,
                &request.tags,
            )
            .await?;
        let migration = self.ensure_migration(request, &project, settings).await?;
        Ok(ReplicationHandle {
            engine: ENGINE.to_string(),
            id: migration,
            name: request.name.clone(),
            resources: vec![source, target, profile, project],
        })
    }

    async fn start(&self, handle: &ReplicationHandle) -> PortResult<()> {
        let started = self
            .client
            .start_data_migration()
            .data_migration_identifier(&handle.id)
            .start_type(StartReplicationMigrationTypeValue::StartReplication)
            .send()
            .await
            // CreateMigration starts the migration it has just created.
            .map_err(|e| not_yet_visible(classify(e, Resource::Migration, &handle.id)));
        match started {
            Ok(_) => Ok(()),
            // A retried start finds the migration already on its way: that is what was asked.
            Err(PortError::InvalidState(message)) => match self.state(handle).await? {
                ReplicationState::Starting | ReplicationState::Running => Ok(()),
                _ => Err(PortError::InvalidState(message)),
            },
            Err(other) => Err(other),
        }
    }

    async fn status(&self, handle: &ReplicationHandle) -> PortResult<ReplicationStatus> {
        let raw = RawPages::default();
        let migration = self
            .find_data_migration_seen(Some(&handle.id), &handle.name, &raw)
            .await?
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Migration,
                message: format!("data migration {}", handle.id),
            })?;
        let status_text = migration
            .data_migration_status()
            .unwrap_or_default()
            .to_string();
        let state = state_from_status(&status_text);
        // CDCLatency is optional in the API, but the SDK reads an omitted one as 0: whether DMS
        // sent it is read from the response itself. It also reads 0 before DMS has measured
        // anything, so it only means something while the migration is actually replicating.
        let cdc_latency_seconds = match (state, migration.data_migration_statistics()) {
            (ReplicationState::Running, Some(statistics))
                if raw.latency_sent(&migration) != Some(false) =>
            {
                u64::try_from(statistics.cdc_latency()).ok()
            }
            _ => None,
        };
        Ok(ReplicationStatus {
            positions: None,
            state,
            status_text,
            cdc_latency_seconds,
            last_failure: migration
                .last_failure_message()
                .filter(|m| !m.trim().is_empty())
                .map(str::to_string),
        })
    }

    async fn stop(&self, handle: &ReplicationHandle) -> PortResult<()> {
        let stopped = self
            .client
            .stop_data_migration()
            .data_migration_identifier(&handle.id)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Migration, &handle.id));
        match stopped {
            Ok(_) => Ok(()),
            Err(PortError::InvalidState(message)) => match self.state(handle).await? {
                ReplicationState::Stopping
                | ReplicationState::Stopped
                | ReplicationState::Ready
                | ReplicationState::Failed => Ok(()),
                _ => Err(PortError::InvalidState(message)),
            },
            Err(other) => Err(other),
        }
    }

    async fn remove(&self, handle: &ReplicationHandle) -> PortResult<()> {
        // Dependents first. Identifiers accept names, and the names are deterministic, so a
        // handle without `resources` still removes everything.
        let names = ResourceNames::for_name(&handle.name);
        ignore_missing(
            self.client
                .delete_data_migration()
                .data_migration_identifier(&handle.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(e, Resource::Migration, &handle.id)),
        )?;
        ignore_missing(
            self.client
                .delete_migration_project()
                .migration_project_identifier(&names.project)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(e, Resource::Migration, &names.project)),
        )?;
        ignore_missing(
            self.client
                .delete_instance_profile()
                .instance_profile_identifier(&names.instance_profile)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(e, Resource::Migration, &names.instance_profile)),
        )?;
        for provider in [&names.source_provider, &names.target_provider] {
            ignore_missing(
                self.client
                    .delete_data_provider()
                    .data_provider_identifier(provider)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify(e, Resource::Migration, provider)),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, json_error};
    use aurora_core::spec::{InstanceProfileSpec, NativeReplication};
    use aurora_core::BinlogPosition;
    use aws_sdk_databasemigration::operation::create_data_migration::CreateDataMigrationOutput;
    use aws_sdk_databasemigration::operation::create_data_provider::CreateDataProviderOutput;
    use aws_sdk_databasemigration::operation::create_instance_profile::CreateInstanceProfileOutput;
    use aws_sdk_databasemigration::operation::create_migration_project::CreateMigrationProjectOutput;
    use aws_sdk_databasemigration::operation::delete_data_migration::DeleteDataMigrationOutput;
    use aws_sdk_databasemigration::operation::delete_data_provider::DeleteDataProviderOutput;
    use aws_sdk_databasemigration::operation::delete_instance_profile::DeleteInstanceProfileOutput;
    use aws_sdk_databasemigration::operation::describe_data_migrations::DescribeDataMigrationsOutput;
    use aws_sdk_databasemigration::operation::describe_data_providers::DescribeDataProvidersOutput;
    use aws_sdk_databasemigration::operation::describe_instance_profiles::DescribeInstanceProfilesOutput;
    use aws_sdk_databasemigration::operation::describe_migration_projects::DescribeMigrationProjectsOutput;
    use aws_sdk_databasemigration::operation::start_data_migration::StartDataMigrationOutput;
    use aws_sdk_databasemigration::operation::stop_data_migration::StopDataMigrationOutput;
    use aws_sdk_databasemigration::Client;
    use aws_smithy_mocks::{mock, Rule};

    const ARN: &str = "arn:aws:dms:eu-west-1:123456789012";
    const ROLE: &str = "arn:aws:iam::123456789012:role/dms-data-migration";
    const MIGRATION_ARN: &str = "arn:aws:dms:eu-west-1:123456789012:data-migration:ABC";

    fn request() -> CdcRequest {
        CdcRequest {
            name: "orders-encrypt".into(),
            source: DatabaseEndpoint {
                cluster_id: "orders".into(),
                host: "orders.cluster-x.rds.amazonaws.com".into(),
                port: 3306,
            },
            target: DatabaseEndpoint {
                cluster_id: "orders-encrypted".into(),
                host: "orders-encrypted.cluster-x.rds.amazonaws.com".into(),
                port: 3306,
            },
            start: BinlogPosition::new("mysql-bin-changelog.000005", 940),
            settings: ReplicationSpec::Dms(DmsSettings {
                service_role_arn: ROLE.into(),
                secrets_access_role_arn: None,
                source_secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:repl"
                    .into(),
                target_secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin"
                    .into(),
                instance_profile: InstanceProfileSpec {
                    subnet_group_identifier: "dms-private".into(),
                    vpc_security_group_ids: vec!["sg-0123456789abcdef0".into()],
                    publicly_accessible: false,
                },
            }),
            tags: vec![Tag::new("aurora-encrypt", "orders")],
        }
    }

    fn handle() -> ReplicationHandle {
        ReplicationHandle {
            engine: "dms".into(),
            id: MIGRATION_ARN.into(),
            name: "orders-encrypt".into(),
            resources: vec![],
        }
    }

    fn filter_is(filters: &[Filter], name: &str, value: &str) -> bool {
        filters.len() == 1 && filters[0].name() == name && filters[0].values() == [value]
    }

    fn provider(name: &str) -> dms::DataProvider {
        dms::DataProvider::builder()
            .data_provider_name(name)
            .data_provider_arn(format!("{ARN}:data-provider:{name}"))
            .build()
    }

    fn migration(status: &str) -> dms::DataMigration {
        dms::DataMigration::builder()
            .data_migration_name("orders-encrypt")
            .data_migration_arn(MIGRATION_ARN)
            .data_migration_status(status)
            .build()
    }

    /// Describe rules that find every resource already there.
    fn everything_exists() -> Vec<Rule> {
        vec![
            mock!(Client::describe_data_providers).then_compute_output(|r| {
                let name = r
                    .filters()
                    .first()
                    .and_then(|f| f.values().first())
                    .cloned()
                    .unwrap_or_default();
                // A look-alike first, to prove only the exact name counts.
                DescribeDataProvidersOutput::builder()
                    .data_providers(provider(&format!("{name}-old")))
                    .data_providers(provider(&name))
                    .build()
            }),
            mock!(Client::describe_instance_profiles).then_output(|| {
                DescribeInstanceProfilesOutput::builder()
                    .instance_profiles(
                        dms::InstanceProfile::builder()
                            .instance_profile_name("orders-encrypt-profile")
                            .instance_profile_arn(format!("{ARN}:instance-profile:P"))
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::describe_migration_projects).then_output(|| {
                DescribeMigrationProjectsOutput::builder()
                    .migration_projects(
                        dms::MigrationProject::builder()
                            .migration_project_name("orders-encrypt-project")
                            .migration_project_arn(format!("{ARN}:migration-project:M"))
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::describe_data_migrations).then_output(|| {
                DescribeDataMigrationsOutput::builder()
                    .data_migrations(migration("Ready"))
                    .build()
            }),
        ]
    }

    /// Describe rules that find nothing.
    fn nothing_exists() -> Vec<Rule> {
        vec![
            mock!(Client::describe_data_providers)
                .then_output(|| DescribeDataProvidersOutput::builder().build()),
            mock!(Client::describe_instance_profiles)
                .then_http_response(|| json_error(400, "ResourceNotFoundFault")),
            mock!(Client::describe_migration_projects)
                .then_output(|| DescribeMigrationProjectsOutput::builder().build()),
            mock!(Client::describe_data_migrations)
                .then_output(|| DescribeDataMigrationsOutput::builder().build()),
        ]
    }

    /// Create rules that check the requests we rely on and answer with ARNs.
    fn creates() -> Vec<Rule> {
        vec![
            mock!(Client::create_data_provider)
                .match_requests(|r| {
                    let mysql = r.settings().and_then(|s| s.as_my_sql_settings().ok());
                    r.engine() == Some("aurora")
                        && mysql.is_some_and(|s| {
                            s.port() == Some(3306)
                                && s.ssl_mode() == Some(&DmsSslModeValue::Require)
                        })
                        && match r.data_provider_name() {
                            Some("orders-encrypt-source") => {
                                mysql.and_then(|s| s.server_name())
                                    == Some("orders.cluster-x.rds.amazonaws.com")
                            }
                            Some("orders-encrypt-target") => {
                                mysql.and_then(|s| s.server_name())
                                    == Some("orders-encrypted.cluster-x.rds.amazonaws.com")
                            }
                            _ => false,
                        }
                })
                .then_compute_output(|r| {
                    CreateDataProviderOutput::builder()
                        .data_provider(provider(r.data_provider_name().unwrap_or_default()))
                        .build()
                }),
            mock!(Client::create_instance_profile)
                .match_requests(|r| {
                    r.instance_profile_name() == Some("orders-encrypt-profile")
                        && r.subnet_group_identifier() == Some("dms-private")
                        && r.vpc_security_groups() == ["sg-0123456789abcdef0"]
                        && r.publicly_accessible() == Some(false)
                })
                .then_output(|| {
                    CreateInstanceProfileOutput::builder()
                        .instance_profile(
                            dms::InstanceProfile::builder()
                                .instance_profile_arn(format!("{ARN}:instance-profile:P"))
                                .build(),
                        )
                        .build()
                }),
            mock!(Client::create_migration_project)
                .match_requests(|r| {
                    let source = r.source_data_provider_descriptors();
                    let target = r.target_data_provider_descriptors();
                    r.migration_project_name() == Some("orders-encrypt-project")
                        && r.instance_profile_identifier()
                            == Some(&format!("{ARN}:instance-profile:P")[..])
                        && source.len() == 1
                        && source[0].data_provider_identifier()
                            == format!("{ARN}:data-provider:orders-encrypt-source")
                        && source[0].secrets_manager_secret_id()
                            == Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:repl")
                        && source[0].secrets_manager_access_role_arn() == Some(ROLE)
                        && target.len() == 1
                        && target[0].data_provider_identifier()
                            == format!("{ARN}:data-provider:orders-encrypt-target")
                        && target[0].secrets_manager_secret_id()
                            == Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin")
                })
                .then_output(|| {
                    CreateMigrationProjectOutput::builder()
                        .migration_project(
                            dms::MigrationProject::builder()
                                .migration_project_arn(format!("{ARN}:migration-project:M"))
                                .build(),
                        )
                        .build()
                }),
            mock!(Client::create_data_migration)
                .match_requests(|r| {
                    r.data_migration_name() == Some("orders-encrypt")
                        && r.migration_project_identifier()
                            == Some(&format!("{ARN}:migration-project:M")[..])
                        && r.data_migration_type() == Some(&MigrationTypeValue::Cdc)
                        && r.service_access_role_arn() == Some(ROLE)
                        && r.source_data_settings().len() == 1
                        && r.source_data_settings()[0].cdc_start_position()
                            == Some("mysql-bin-changelog.000005:940")
                        && r.source_data_settings()[0].cdc_start_time().is_none()
                        && r.tags().first().and_then(|t| t.key()) == Some("aurora-encrypt")
                })
                .then_output(|| {
                    CreateDataMigrationOutput::builder()
                        .data_migration(
                            dms::DataMigration::builder()
                                .data_migration_arn(MIGRATION_ARN)
                                .build(),
                        )
                        .build()
                }),
        ]
    }

    fn with_rules(rules: &[Rule]) -> DmsReplication {
        DmsReplication::from_client(aws_smithy_mocks::mock_client!(
            aws_sdk_databasemigration,
            aws_smithy_mocks::RuleMode::MatchAny,
            rules,
            |config| config.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        ))
    }

    #[tokio::test]
    async fn ensure_cdc_creates_every_resource_when_none_exists() {
        let creates = creates();
        let rules: Vec<Rule> = nothing_exists()
            .into_iter()
            .chain(creates.iter().cloned())
            .collect();
        let replication = with_rules(&rules);

        let handle = replication.ensure_cdc(&request()).await.unwrap();

        assert_eq!(handle.engine, "dms");
        assert_eq!(handle.id, MIGRATION_ARN);
        assert_eq!(handle.name, "orders-encrypt");
        assert_eq!(
            handle.resources,
            vec![
                format!("{ARN}:data-provider:orders-encrypt-source"),
                format!("{ARN}:data-provider:orders-encrypt-target"),
                format!("{ARN}:instance-profile:P"),
                format!("{ARN}:migration-project:M"),
            ]
        );
        let calls: Vec<usize> = creates.iter().map(Rule::num_calls).collect();
        assert_eq!(
            calls,
            vec![2, 1, 1, 1],
            "data providers, profile, project, migration"
        );
    }

    #[tokio::test]
    async fn ensure_cdc_creates_nothing_when_everything_exists() {
        let creates = creates();
        let rules: Vec<Rule> = everything_exists()
            .into_iter()
            .chain(creates.iter().cloned())
            .collect();
        let replication = with_rules(&rules);

        let handle = replication.ensure_cdc(&request()).await.unwrap();

        assert_eq!(handle.id, MIGRATION_ARN);
        assert_eq!(
            handle.resources[0],
            format!("{ARN}:data-provider:orders-encrypt-source")
        );
        assert!(
            creates.iter().all(|rule| rule.num_calls() == 0),
            "a create was called"
        );
    }

    #[tokio::test]
    async fn ensure_cdc_looks_resources_up_by_exact_name_filters() {
        let lookups = [
            mock!(Client::describe_data_providers)
                .match_requests(|r| {
                    filter_is(
                        r.filters(),
                        "data-provider-identifier",
                        "orders-encrypt-source",
                    ) || filter_is(
                        r.filters(),
                        "data-provider-identifier",
                        "orders-encrypt-target",
                    )
                })
                .then_compute_output(|r| {
                    let name = r.filters()[0].values()[0].clone();
                    DescribeDataProvidersOutput::builder()
                        .data_providers(provider(&name))
                        .build()
                }),
            mock!(Client::describe_instance_profiles)
                .match_requests(|r| {
                    filter_is(
                        r.filters(),
                        "instance-profile-identifier",
                        "orders-encrypt-profile",
                    )
                })
                .then_output(|| DescribeInstanceProfilesOutput::builder().build()),
            mock!(Client::describe_migration_projects)
                .match_requests(|r| {
                    filter_is(
                        r.filters(),
                        "migration-project-identifier",
                        "orders-encrypt-project",
                    )
                })
                .then_output(|| DescribeMigrationProjectsOutput::builder().build()),
            // No filter: DescribeDataMigrations documents none.
            mock!(Client::describe_data_migrations)
                .match_requests(|r| r.filters().is_empty() && r.without_settings() == Some(true))
                .then_output(|| DescribeDataMigrationsOutput::builder().build()),
        ];
        let creates = creates();
        let rules: Vec<Rule> = lookups
            .iter()
            .cloned()
            .chain(creates.iter().cloned())
            .collect();
        let replication = with_rules(&rules);

        replication.ensure_cdc(&request()).await.unwrap();

        assert_eq!(
            lookups.iter().map(Rule::num_calls).collect::<Vec<_>>(),
            vec![2, 1, 1, 1]
        );
        // The providers were found, so only the rest was created.
        assert_eq!(
            creates.iter().map(Rule::num_calls).collect::<Vec<_>>(),
            vec![0, 1, 1, 1]
        );
    }

    #[tokio::test]
    async fn ensure_cdc_refuses_native_settings() {
        let replication = with_rules(&nothing_exists());
        let mut request = request();
        request.settings = ReplicationSpec::Native(NativeReplication {
            source_secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:repl".into(),
            target_secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin".into(),
        });
        assert_eq!(
            replication.ensure_cdc(&request).await,
            Err(PortError::InvalidRequest(
                "the DMS adapter only runs engine dms".into()
            ))
        );
    }

    #[tokio::test]
    async fn ensure_cdc_surfaces_access_denied() {
        let denied = mock!(Client::describe_data_providers)
            .then_http_response(|| json_error(400, "AccessDeniedFault"));
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &denied));
        assert!(matches!(
            replication.ensure_cdc(&request()).await,
            Err(PortError::AccessDenied(_))
        ));
    }

    #[tokio::test]
    async fn a_create_that_lost_a_race_returns_what_the_other_run_created() {
        let describe = mock!(Client::describe_data_migrations)
            .sequence()
            .output(|| DescribeDataMigrationsOutput::builder().build())
            .output(|| {
                DescribeDataMigrationsOutput::builder()
                    .data_migrations(migration("Creating"))
                    .build()
            })
            .build();
        let create = mock!(Client::create_data_migration)
            .then_http_response(|| json_error(400, "ResourceAlreadyExistsFault"));
        let replication =
            DmsReplication::from_client(client!(aws_sdk_databasemigration, &describe, &create));
        let settings = match &request().settings {
            ReplicationSpec::Dms(s) => s.clone(),
            ReplicationSpec::Native(_) => unreachable!(),
        };
        let arn = replication
            .ensure_migration(&request(), "project", &settings)
            .await
            .unwrap();
        assert_eq!(arn, MIGRATION_ARN);
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn not_found_right_after_a_create_is_retried_not_bad_input() {
        let start = mock!(Client::start_data_migration)
            .then_http_response(|| json_error(400, "ResourceNotFoundFault"));
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &start));
        let error = replication.start(&handle()).await.unwrap_err();
        assert_eq!(error.default_name(), "Transient", "{error:?}");

        let describe = mock!(Client::describe_data_migrations)
            .then_output(|| DescribeDataMigrationsOutput::builder().build());
        let create = mock!(Client::create_data_migration)
            .then_http_response(|| json_error(400, "ResourceNotFoundFault"));
        let replication =
            DmsReplication::from_client(client!(aws_sdk_databasemigration, &describe, &create));
        let settings = match &request().settings {
            ReplicationSpec::Dms(s) => s.clone(),
            ReplicationSpec::Native(_) => unreachable!(),
        };
        let error = replication
            .ensure_migration(&request(), "project", &settings)
            .await
            .unwrap_err();
        assert_eq!(error.default_name(), "Transient", "{error:?}");
    }

    #[tokio::test]
    async fn quota_and_failed_dependency_reach_the_operator_under_their_own_code() {
        for code in ["ResourceQuotaExceededFault", "FailedDependencyFault"] {
            let describe = mock!(Client::describe_data_migrations)
                .then_output(|| DescribeDataMigrationsOutput::builder().build());
            let create = mock!(Client::create_data_migration)
                .then_http_response(move || json_error(400, code));
            let replication =
                DmsReplication::from_client(client!(aws_sdk_databasemigration, &describe, &create));
            let settings = match &request().settings {
                ReplicationSpec::Dms(s) => s.clone(),
                ReplicationSpec::Native(_) => unreachable!(),
            };
            let error = replication
                .ensure_migration(&request(), "project", &settings)
                .await
                .unwrap_err();
            assert_eq!(error.default_name(), "AwsError", "{code}: {error:?}");
            assert!(error.to_string().contains(code), "{error}");
        }
    }

    #[tokio::test]
    async fn start_uses_start_replication() {
        let rule = mock!(Client::start_data_migration)
            .match_requests(|r| {
                r.data_migration_identifier() == Some(MIGRATION_ARN)
                    && r.start_type() == Some(&StartReplicationMigrationTypeValue::StartReplication)
            })
            .then_output(|| StartDataMigrationOutput::builder().build());
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &rule));
        replication.start(&handle()).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn starting_a_migration_that_is_already_running_is_not_an_error() {
        let start = mock!(Client::start_data_migration)
            .then_http_response(|| json_error(400, "InvalidResourceStateFault"));
        let describe = mock!(Client::describe_data_migrations).then_output(|| {
            DescribeDataMigrationsOutput::builder()
                .data_migrations(migration("Replication ongoing"))
                .build()
        });
        let replication =
            DmsReplication::from_client(client!(aws_sdk_databasemigration, &start, &describe));
        replication.start(&handle()).await.unwrap();
    }

    #[tokio::test]
    async fn starting_a_failed_migration_is_invalid_state() {
        let start = mock!(Client::start_data_migration)
            .then_http_response(|| json_error(400, "InvalidResourceStateFault"));
        let describe = mock!(Client::describe_data_migrations).then_output(|| {
            DescribeDataMigrationsOutput::builder()
                .data_migrations(migration("Failed"))
                .build()
        });
        let replication =
            DmsReplication::from_client(client!(aws_sdk_databasemigration, &start, &describe));
        assert!(matches!(
            replication.start(&handle()).await,
            Err(PortError::InvalidState(_))
        ));
    }

    #[tokio::test]
    async fn status_follows_pages_and_reads_latency_and_failure() {
        let first = mock!(Client::describe_data_migrations)
            .match_requests(|r| r.marker().is_none() && r.filters().is_empty())
            .then_output(|| {
                DescribeDataMigrationsOutput::builder()
                    .data_migrations(
                        dms::DataMigration::builder()
                            .data_migration_name("other")
                            .data_migration_arn(format!("{ARN}:data-migration:OTHER"))
                            .build(),
                    )
                    .marker("m2")
                    .build()
            });
        let second = mock!(Client::describe_data_migrations)
            .match_requests(|r| r.marker() == Some("m2"))
            .then_output(|| {
                let mut running = migration("Replication ongoing");
                running.data_migration_statistics = Some(
                    dms::DataMigrationStatistics::builder()
                        .cdc_latency(7)
                        .build(),
                );
                running.last_failure_message = Some("Last error: table lock".into());
                DescribeDataMigrationsOutput::builder()
                    .data_migrations(running)
                    .build()
            });
        let replication =
            DmsReplication::from_client(client!(aws_sdk_databasemigration, &first, &second));

        let status = replication.status(&handle()).await.unwrap();

        assert_eq!(status.state, ReplicationState::Running);
        assert_eq!(status.status_text, "Replication ongoing");
        assert_eq!(status.cdc_latency_seconds, Some(7));
        assert_eq!(
            status.last_failure.as_deref(),
            Some("Last error: table lock")
        );
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn status_of_a_missing_migration_is_not_found() {
        let rule = mock!(Client::describe_data_migrations)
            .then_http_response(|| json_error(400, "ResourceNotFoundFault"));
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &rule));
        let error = replication.status(&handle()).await.unwrap_err();
        assert!(error.is_not_found(Resource::Migration), "{error:?}");
    }

    #[tokio::test]
    async fn status_throttling_is_transient() {
        let rule = mock!(Client::describe_data_migrations)
            .then_http_response(|| json_error(400, "ThrottlingException"));
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &rule));
        assert!(matches!(
            replication.status(&handle()).await,
            Err(PortError::Transient(_))
        ));
        let rule = mock!(Client::describe_data_migrations)
            .sequence()
            .http_status(500, None)
            .build();
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &rule));
        assert!(matches!(
            replication.status(&handle()).await,
            Err(PortError::Transient(_))
        ));
    }

    #[tokio::test]
    async fn latency_is_unknown_until_the_migration_replicates() {
        let rule = mock!(Client::describe_data_migrations).then_output(|| {
            let mut starting = migration("Starting");
            starting.data_migration_statistics = Some(
                dms::DataMigrationStatistics::builder()
                    .cdc_latency(0)
                    .build(),
            );
            DescribeDataMigrationsOutput::builder()
                .data_migrations(starting)
                .build()
        });
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &rule));
        let status = replication.status(&handle()).await.unwrap();
        assert_eq!(status.state, ReplicationState::Starting);
        assert_eq!(status.cdc_latency_seconds, None);
    }

    /// A page as DMS sends it: one running migration, with or without `CDCLatency`.
    fn running_page(statistics: &str) -> String {
        format!(
            r#"{{"DataMigrations":[{{"DataMigrationName":"orders-encrypt","DataMigrationArn":"{MIGRATION_ARN}","DataMigrationType":"cdc","DataMigrationStatus":"Replication ongoing","DataMigrationStatistics":{statistics}}}]}}"#
        )
    }

    #[tokio::test]
    async fn an_omitted_latency_is_unknown_not_the_zero_the_sdk_reads() {
        for (statistics, expected) in [
            (r#"{"TablesLoaded":3}"#, None),
            (r#"{"TablesLoaded":3,"CDCLatency":0}"#, Some(0)),
            (r#"{"CDCLatency":12}"#, Some(12)),
        ] {
            let body = running_page(statistics);
            let rule = mock!(Client::describe_data_migrations)
                .then_http_response(move || crate::test_support::json_ok(&body));
            let replication =
                DmsReplication::from_client(client!(aws_sdk_databasemigration, &rule));
            let status = replication.status(&handle()).await.unwrap();
            assert_eq!(status.state, ReplicationState::Running, "{statistics}");
            assert_eq!(status.cdc_latency_seconds, expected, "{statistics}");
        }
    }

    #[tokio::test]
    async fn an_unknown_status_is_reported_as_unknown_with_its_text() {
        let rule = mock!(Client::describe_data_migrations).then_output(|| {
            DescribeDataMigrationsOutput::builder()
                .data_migrations(migration("Preparing"))
                .build()
        });
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &rule));
        let status = replication.status(&handle()).await.unwrap();
        assert_eq!(status.state, ReplicationState::Unknown);
        assert_eq!(status.status_text, "Preparing");
    }

    #[tokio::test]
    async fn a_migration_is_found_by_arn_even_after_a_rename() {
        let rule = mock!(Client::describe_data_migrations).then_output(|| {
            let mut renamed = migration("Ready");
            renamed.data_migration_name = Some("renamed".into());
            DescribeDataMigrationsOutput::builder()
                .data_migrations(renamed)
                .build()
        });
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &rule));
        let status = replication.status(&handle()).await.unwrap();
        assert_eq!(status.state, ReplicationState::Ready);
    }

    #[tokio::test]
    async fn stopping_a_stopped_migration_is_not_an_error() {
        let stop = mock!(Client::stop_data_migration)
            .match_requests(|r| r.data_migration_identifier() == Some(MIGRATION_ARN))
            .then_http_response(|| json_error(400, "InvalidResourceStateFault"));
        let describe = mock!(Client::describe_data_migrations).then_output(|| {
            DescribeDataMigrationsOutput::builder()
                .data_migrations(migration("Stopped"))
                .build()
        });
        let replication =
            DmsReplication::from_client(client!(aws_sdk_databasemigration, &stop, &describe));
        replication.stop(&handle()).await.unwrap();
        assert_eq!(stop.num_calls(), 1);
    }

    #[tokio::test]
    async fn stop_calls_stop_data_migration() {
        let stop = mock!(Client::stop_data_migration)
            .then_output(|| StopDataMigrationOutput::builder().build());
        let replication = DmsReplication::from_client(client!(aws_sdk_databasemigration, &stop));
        replication.stop(&handle()).await.unwrap();
        assert_eq!(stop.num_calls(), 1);
    }

    #[tokio::test]
    async fn remove_deletes_dependents_first_and_tolerates_missing_ones() {
        let migration = mock!(Client::delete_data_migration)
            .match_requests(|r| r.data_migration_identifier() == Some(MIGRATION_ARN))
            .then_output(|| DeleteDataMigrationOutput::builder().build());
        let project = mock!(Client::delete_migration_project)
            .match_requests(|r| r.migration_project_identifier() == Some("orders-encrypt-project"))
            .then_http_response(|| json_error(400, "ResourceNotFoundFault"));
        let profile = mock!(Client::delete_instance_profile)
            .match_requests(|r| r.instance_profile_identifier() == Some("orders-encrypt-profile"))
            .then_output(|| DeleteInstanceProfileOutput::builder().build());
        let providers = mock!(Client::delete_data_provider)
            .match_requests(|r| {
                matches!(
                    r.data_provider_identifier(),
                    Some("orders-encrypt-source" | "orders-encrypt-target")
                )
            })
            .then_output(|| DeleteDataProviderOutput::builder().build());
        let replication = DmsReplication::from_client(client!(
            aws_sdk_databasemigration,
            &migration,
            &project,
            &profile,
            &providers
        ));

        replication.remove(&handle()).await.unwrap();

        assert_eq!(
            (
                migration.num_calls(),
                project.num_calls(),
                profile.num_calls(),
                providers.num_calls()
            ),
            (1, 1, 1, 2)
        );
    }

    #[test]
    fn documented_statuses_map_to_states() {
        use ReplicationState::*;
        for (status, state) in [
            ("Creating", Creating),
            ("Ready", Ready),
            ("Starting", Starting),
            ("Load running", Running),
            ("Load complete, replication ongoing", Running),
            ("Replication ongoing", Running),
            ("REPLICATION_ONGOING", Running),
            ("Reloading target", Starting),
            ("Stopping", Stopping),
            ("stopped", Stopped),
            ("Failed", Failed),
            ("Deleting", Deleting),
            ("failed-start", Unknown),
            ("something new", Unknown),
            ("", Unknown),
        ] {
            assert_eq!(state_from_status(status), state, "{status}");
        }
    }
}

//! The execution input: the spec parsed strictly and validated, the execution's name and ARN,
//! and the source named by identifier.

use time::OffsetDateTime;

use super::{PreflightError, PreflightInput};
use crate::errors::InvalidInput;
use crate::ports::Clusters;
use crate::spec::MigrationSpec;

/// The spec, parsed strictly and valid at `now`, of an execution with a name.
pub(super) fn parse_spec(
    input: &PreflightInput,
    now: OffsetDateTime,
) -> Result<MigrationSpec, PreflightError> {
    let spec = MigrationSpec::from_value(&input.spec)?;
    spec.validate(now)?;
    if input.execution.name.trim().is_empty() {
        return Err(InvalidInput::new("execution.name", "must not be empty").into());
    }
    Ok(spec)
}

/// The execution ARN: a real run holds the source's lock in its name.
pub(super) fn execution_id(input: &PreflightInput) -> Result<String, PreflightError> {
    let id = input
        .execution
        .id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            InvalidInput::new(
                "execution.id",
                "must be the execution ARN ($$.Execution.Id): it holds the source's lock",
            )
        })?;
    Ok(id)
}

/// AWS Config names a cluster by its resource id (`cluster-…`); every later step needs the
/// identifier. A spec that names both must name the same cluster; once resolved, the spec is
/// validated again with the identifier in it.
pub(super) async fn resolve_resource_id(
    spec: &mut MigrationSpec,
    clusters: &dyn Clusters,
    now: OffsetDateTime,
) -> Result<(), PreflightError> {
    let Some(resource_id) = spec.source_cluster_resource_id.clone() else {
        return Ok(());
    };
    let found = clusters
        .cluster_id_by_resource_id(&resource_id)
        .await?
        .ok_or_else(|| PreflightError::SourceNotFound(resource_id.clone()))?;
    if !spec.source_cluster_id.is_empty() && !spec.source_cluster_id.eq_ignore_ascii_case(&found) {
        return Err(InvalidInput::new(
            "sourceClusterResourceId",
            format!(
                "`{resource_id}` is cluster `{found}`, not sourceClusterId `{}`",
                spec.source_cluster_id
            ),
        )
        .into());
    }
    spec.source_cluster_id = found;
    spec.validate(now)?;
    Ok(())
}

//! Preflight's plan names the DMS resources a run creates (`aurora_core::naming`); the DMS
//! adapter creates them under its own names. This keeps the two in step.

#[cfg(test)]
mod tests {
    use crate::dms::ResourceNames;
    use aurora_core::naming;

    #[test]
    fn the_plan_names_dms_resources_as_the_adapter_creates_them() {
        let name = naming::migration_name("orders-encrypted");
        let adapter = ResourceNames::for_name(&name);
        let planned: Vec<String> = naming::dms_resource_names(&name)
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(
            planned,
            vec![
                adapter.source_provider,
                adapter.target_provider,
                adapter.instance_profile,
                adapter.project,
                adapter.migration,
            ]
        );
    }
}

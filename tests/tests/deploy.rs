//! What a first `sam deploy` needs beyond a valid template: the RDS CA bundle every SQL function
//! verifies TLS with, definitions that work in every partition, and triggers that cannot be
//! deployed without what their runs need.

use aurora_tests::{read, resources_of_type, template};
use serde_json::json;

/// Preflight checks its own RDS CA bundle on behalf of Verify and the native engine's steps,
/// so every function that speaks SQL must have the same one: the layer the template builds,
/// at the path its Makefile writes (a layer's files appear under /opt).
#[test]
fn every_sql_function_has_the_rds_ca_bundle_layer_preflight_checks() {
    let template = template();
    let layer = &template["Resources"]["RdsCaBundleLayer"];
    assert_eq!(layer["Type"], "AWS::Serverless::LayerVersion");
    assert_eq!(layer["Metadata"]["BuildMethod"], "makefile");
    let content = layer["Properties"]["ContentUri"].as_str().unwrap();
    let makefile = read(&format!("infra/{content}/Makefile"));
    assert!(
        makefile.contains("build-RdsCaBundleLayer:")
            && makefile.contains("BUNDLE = $(ARTIFACTS_DIR)/rds-ca/global-bundle.pem"),
        "infra/{content}/Makefile does not build /opt/rds-ca/global-bundle.pem"
    );
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let properties = &function["Properties"];
        if properties.get("VpcConfig").is_none() {
            assert!(properties.get("Layers").is_none(), "{id}");
            continue;
        }
        assert_eq!(
            properties["Environment"]["Variables"]["RDS_CA_BUNDLE"],
            "/opt/rds-ca/global-bundle.pem",
            "{id}"
        );
        assert_eq!(
            properties["Layers"],
            json!([{"Ref": "RdsCaBundleLayer"}]),
            "{id}"
        );
    }
}

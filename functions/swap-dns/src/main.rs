//! Lambda handler of the `SwapDns` and `RevertDns` states, of the TTL states (`LowerDnsTtl`,
//! `CleanupDnsTtl`, `CleanupDnsTtlOnRollback`, whose input carries an `action`), and of the RDS
//! Proxy method's control-plane states (`CheckProxy`, `SwapProxy`, `RevertProxy`: `action`
//! `proxy-check` or `proxy`; ConfirmProxy's SQL runs in the verify function), and of the rename
//! method's (`CheckRename`: `action` `rename-check`; `RenameClusters`, `UndoRenames`: `action`
//! `rename`; ConfirmRename runs in the verify function): wiring only. The steps are `aurora_core::steps::swap_dns`, `dns_ttl` and
//! `swap_proxy`: each moves the application from one cluster to the other, so one function
//! serves them. Clients are built once and reused while the function is warm.
//!
//! Metrics: the swap and its revert print one embedded-metric-format line per invocation on
//! stdout (`FencedWindowMs` once the swap is in sync, `Phase`; `aurora_core::metrics`); the TTL
//! actions print none.
//!
//! Environment: `SOURCE_LOCK_TABLE`: the DynamoDB table of the per-source locks; the swap and its
//! revert act only while this execution holds its source's lock.

use aurora_core::errors::output_json;
use aurora_core::metrics as emf;
use aurora_core::parse_input;
use aurora_core::ports::SystemClock;
use aurora_core::steps::dns_ttl::{self, DnsTtlInput};
use aurora_core::steps::rename::{self, CheckRenameInput, RenameRequest};
use aurora_core::steps::swap_dns::{self, SwapDnsInput};
use aurora_core::steps::swap_proxy::{self, CheckProxyInput, SwapProxyRequest};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let dns = aurora_aws::Route53Dns::new(&config);
    let lock = aurora_aws::DynamoSourceLock::from_env(&config)?;
    let ttl_deps = dns_ttl::Deps {
        dns: &dns,
        clock: &SystemClock,
        lock: &lock,
    };
    let swap_deps = swap_dns::Deps {
        dns: &dns,
        clock: &SystemClock,
        lock: &lock,
    };
    let proxies = aurora_aws::RdsProxies::new(&config);
    let clusters = aurora_aws::RdsClusters::new(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        if rename::is_check_request(&event.payload) {
            let input: CheckRenameInput = parse_input(event.payload)?;
            return output_json(rename::check(&input, &clusters).await?);
        }
        if rename::is_rename_request(&event.payload) {
            let request: RenameRequest = parse_input(event.payload)?;
            let deps = rename::Deps {
                clusters: &clusters,
                clock: &SystemClock,
                lock: &lock,
            };
            return output_json(rename::run_holding_lock(&request.into_input(), &deps).await?);
        }
        if swap_proxy::is_check_request(&event.payload) {
            let input: CheckProxyInput = parse_input(event.payload)?;
            return output_json(swap_proxy::check(&input, &proxies).await?);
        }
        if swap_proxy::is_proxy_request(&event.payload) {
            let request: SwapProxyRequest = parse_input(event.payload)?;
            let deps = swap_proxy::Deps {
                proxies: &proxies,
                clock: &SystemClock,
                lock: &lock,
            };
            return output_json(swap_proxy::run_holding_lock(&request.into_input(), &deps).await?);
        }
        if dns_ttl::is_ttl_request(&event.payload) {
            let input: DnsTtlInput = parse_input(event.payload)?;
            let output = dns_ttl::run_holding_lock(&input, &ttl_deps).await?;
            output_json(output)
        } else {
            let dimensions = emf::Dimensions::from_input(&event.payload);
            let input: SwapDnsInput = parse_input(event.payload)?;
            let output = swap_dns::run_holding_lock(&input, &swap_deps).await?;
            if let Some(dimensions) = dimensions {
                aurora_aws::emit_metrics(&emf::swap_dns(dimensions, &output, input.revert));
            }
            output_json(output)
        }
    }))
    .await
}

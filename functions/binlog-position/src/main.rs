//! Lambda handler of the `BinlogPosition` state: wiring only. The step is
//! `aurora_core::steps::binlog_position`; clients are built once and reused while the function is warm.

use aurora_core::parse_input;
use aurora_core::ports::SystemClock;
use aurora_core::steps::binlog_position::{self, BinlogPositionInput, BinlogPositionSettings};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = BinlogPositionSettings {
        horizon: horizon_from_env()?,
    };
    let config = aurora_aws::load_config().await;
    let clusters = aurora_aws::RdsClusters::new(&config);
    let deps = binlog_position::Deps {
        clusters: &clusters,
        clock: &SystemClock,
        settings,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: BinlogPositionInput = parse_input(event.payload)?;
        binlog_position::run(&input, &deps)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}

/// `BINLOG_EVENT_HORIZON_MINUTES` (optional): how long to wait for the restore's binlog event.
fn horizon_from_env() -> Result<time::Duration, Error> {
    match std::env::var("BINLOG_EVENT_HORIZON_MINUTES") {
        Err(_) => Ok(binlog_position::DEFAULT_HORIZON),
        Ok(text) => match text.parse::<i64>() {
            Ok(minutes) if minutes > 0 => Ok(time::Duration::minutes(minutes)),
            _ => Err(format!(
                "BINLOG_EVENT_HORIZON_MINUTES must be a positive number of minutes, got {text:?}"
            )
            .into()),
        },
    }
}

//! Runs `statemachine/encrypt-cluster.asl.json` in-process: binds each Task resource of the
//! definition to its core step, over whatever port adapters the caller supplies (the MariaDB
//! sandbox, AWS, or in-memory fakes). The Lambda bins and this crate call the very same step
//! functions; only the transport differs.
//!
//! Resources are the functions' ARNs after `DefinitionSubstitutions`; locally every
//! `${XFunctionArn}` becomes `arn:aws:lambda:local:000000000000:function:<bin name>` and the
//! engine's registry resolves the function name. SNS publishes are recorded in [`Notifications`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use asl_engine::{TaskContext, TaskError, TaskHandler, TaskRegistry};
use aurora_core::errors::{parse_input, NamedError};
use aurora_core::ports::{
    BinlogRetention, CacheWarmer, Clock, ClusterParameters, ClusterRetirement, Clusters, Dns,
    FenceSql, KmsKeys, LagMetrics, ProxyTargets, Replication, ServerIdentity, Sleeper, SourceLock,
    VerifySide, WriteFence,
};
use aurora_core::steps::{
    binlog_position, cleanup, create_migration, dns_ttl, drain, failback, fence_writes, parity,
    poll_latency, preflight, prewarm, rename, restore, snapshot, stop_migration, swap_dns,
    swap_proxy, verify, verify_online,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// The state machine definition SAM deploys, compiled in so the CLI runs without the source tree.
pub const ENCRYPT_CLUSTER_ASL: &str = include_str!("../../encrypt-cluster.asl.json");

/// Every Lambda-backed Task: the `DefinitionSubstitutions` key and the function (bin crate) name.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("PreflightFunctionArn", "preflight"),
    ("SnapshotFunctionArn", "snapshot"),
    ("RestoreFunctionArn", "restore"),
    ("BinlogPositionFunctionArn", "binlog-position"),
    ("CreateMigrationFunctionArn", "create-migration"),
    ("PollLatencyFunctionArn", "poll-latency"),
    ("FenceWritesFunctionArn", "fence-writes"),
    ("DrainFunctionArn", "drain"),
    ("VerifyFunctionArn", "verify"),
    ("SwapDnsFunctionArn", "swap-dns"),
    ("StopMigrationFunctionArn", "stop-migration"),
    ("CleanupFunctionArn", "cleanup"),
];

/// The local stand-in for the notification topic.
pub const LOCAL_TOPIC_ARN: &str = "arn:aws:sns:local:000000000000:aurora-encrypt";

/// `DefinitionSubstitutions` for a local run.
pub fn local_substitutions() -> HashMap<String, String> {
    let mut map: HashMap<String, String> = FUNCTIONS
        .iter()
        .map(|(key, name)| {
            (
                key.to_string(),
                format!("arn:aws:lambda:local:000000000000:function:{name}"),
            )
        })
        .collect();
    map.insert("NotificationTopicArn".into(), LOCAL_TOPIC_ARN.into());
    // Service integrations are `arn:${Partition}:states:::…` so that aws-cn and aws-us-gov work.
    map.insert("Partition".into(), "aws".into());
    map
}

/// The adapters the steps run over, and the settings a Lambda would read from its environment.
pub struct Ports {
    pub clusters: Arc<dyn Clusters>,
    pub parameters: Arc<dyn ClusterParameters>,
    pub kms: Arc<dyn KmsKeys>,
    /// `None`: preflight warns instead of checking binlog retention.
    pub retention: Option<Arc<dyn BinlogRetention>>,
    pub replication: Arc<dyn Replication>,
    pub lag: Arc<dyn LagMetrics>,
    pub fence: Arc<dyn WriteFence>,
    /// The verify step's two sides: whole tables, chunks and the source's binlog.
    pub source_verifier: Arc<dyn VerifySide>,
    pub target_verifier: Arc<dyn VerifySide>,
    pub dns: Arc<dyn Dns>,
    pub retirement: Arc<dyn ClusterRetirement>,
    /// One migration per source: the lock Preflight takes and the source-changing steps check.
    pub lock: Arc<dyn SourceLock>,
    pub clock: Arc<dyn Clock>,
    pub sleeper: Arc<dyn Sleeper>,
    pub binlog_horizon: time::Duration,
    pub preflight: preflight::PreflightSettings,
    pub drain: drain::DrainSettings,
    pub restore: restore::RestoreSettings,
    /// The fence's SQL half: ending sessions, confirming, the marker (source and target).
    pub fence_sql: Arc<dyn FenceSql>,
    pub fence_settings: fence_writes::FenceSettings,
    pub verify_online: verify_online::OnlineSettings,
    /// The pre-warm: the source's top statements replayed on the target's instances.
    pub warmer: Arc<dyn CacheWarmer>,
    /// The RDS Proxy of `switchover.method: proxy`, and which server a session reaches.
    pub proxies: Arc<dyn ProxyTargets>,
    pub identity: Arc<dyn ServerIdentity>,
}

/// The messages the state machine published, in order (the local SNS topic).
#[derive(Debug, Default, Clone)]
pub struct Notifications(Arc<Mutex<Vec<Value>>>);

impl Notifications {
    pub fn all(&self) -> Vec<Value> {
        self.0.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

/// A step failure as the state machine sees a Lambda error: `errorType` and message.
fn task_error<E: NamedError>(error: &E) -> TaskError {
    TaskError::new(error.error_name(), Some(error.to_string()))
}

/// Parses the step's input from the state document, runs it, and serialises its output.
async fn call<I, O, E, Fut>(
    input: Value,
    step: impl FnOnce(I) -> Fut + Send,
) -> Result<Value, TaskError>
where
    I: DeserializeOwned,
    O: Serialize,
    E: NamedError,
    Fut: Future<Output = Result<O, E>> + Send,
{
    let input: I = parse_input(input).map_err(|e| task_error(&e))?;
    let output = step(input).await.map_err(|e| task_error(&e))?;
    serde_json::to_value(output).map_err(|e| TaskError::new("States.Runtime", Some(e.to_string())))
}

/// The registry that serves every Task of the definition with `ports`; SNS publishes are
/// recorded in `notifications`.
pub fn registry(ports: Arc<Ports>, notifications: Notifications) -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    let mut add = |name: &str, handler: Handler| {
        let p = ports.clone();
        registry.insert(
            name,
            StepHandler {
                ports: p,
                run: handler,
            },
        );
    };
    add("preflight", |p, input| {
        Box::pin(call(
            input,
            move |i: preflight::PreflightInput| async move {
                let deps = preflight::Deps {
                    clusters: &*p.clusters,
                    parameters: &*p.parameters,
                    kms: &*p.kms,
                    dns: &*p.dns,
                    retention: p.retention.as_deref(),
                    fence_sql: Some(&*p.fence_sql),
                    clock: &*p.clock,
                    lock: &*p.lock,
                    settings: p.preflight.clone(),
                };
                preflight::run(&i, &deps).await
            },
        ))
    });
    add("snapshot", |p, input| {
        Box::pin(call(input, move |i: snapshot::SnapshotInput| async move {
            let deps = snapshot::Deps {
                clusters: &*p.clusters,
                clock: &*p.clock,
            };
            snapshot::run(&i, &deps).await
        }))
    });
    add("restore", |p, input| {
        Box::pin(call(input, move |i: restore::RestoreInput| async move {
            let deps = restore::Deps {
                clusters: &*p.clusters,
                clock: &*p.clock,
                settings: p.restore,
            };
            restore::run(&i, &deps).await
        }))
    });
    add("binlog-position", |p, input| {
        Box::pin(call(
            input,
            move |i: binlog_position::BinlogPositionInput| async move {
                let deps = binlog_position::Deps {
                    clusters: &*p.clusters,
                    clock: &*p.clock,
                    settings: binlog_position::BinlogPositionSettings {
                        horizon: p.binlog_horizon,
                    },
                };
                binlog_position::run(&i, &deps).await
            },
        ))
    });
    // One function opens the failback window and creates a replication, either way, as the
    // create-migration Lambda does.
    add("create-migration", |p, input| {
        if failback::is_open_window_request(&input) {
            return Box::pin(call(
                input,
                move |r: failback::OpenWindowRequest| async move {
                    failback::open_window(&r, &*p.clock)
                },
            ));
        }
        Box::pin(call(
            input,
            move |i: create_migration::CreateMigrationInput| async move {
                let deps = create_migration::Deps {
                    replication: &*p.replication,
                };
                create_migration::run(&i, &deps).await
            },
        ))
    });
    add("poll-latency", |p, input| {
        Box::pin(call(
            input,
            move |i: poll_latency::PollLatencyInput| async move {
                let deps = poll_latency::Deps {
                    replication: &*p.replication,
                    metrics: &*p.lag,
                    clock: &*p.clock,
                };
                poll_latency::run(&i, &deps).await
            },
        ))
    });
    add("fence-writes", |p, input| {
        Box::pin(call(
            input,
            move |i: fence_writes::FenceWritesInput| async move {
                let deps = fence_writes::Deps {
                    fence: &*p.fence,
                    parameters: &*p.parameters,
                    sql: &*p.fence_sql,
                    clock: &*p.clock,
                    sleeper: &*p.sleeper,
                    lock: &*p.lock,
                    settings: p.fence_settings,
                };
                fence_writes::run_holding_lock(&i, &deps).await
            },
        ))
    });
    add("drain", |p, input| {
        Box::pin(call(input, move |i: drain::DrainInput| async move {
            let deps = drain::Deps {
                replication: &*p.replication,
                markers: &*p.fence_sql,
                clock: &*p.clock,
                sleeper: &*p.sleeper,
                settings: p.drain,
            };
            drain::run(&i, &deps).await
        }))
    });
    // One function serves the parity check, the online pass and the fenced verification, as the
    // verify Lambda does.
    add("verify", |p, input| {
        if rename::is_confirm_request(&input) {
            Box::pin(call(
                input,
                move |r: rename::ConfirmRenameRequest| async move {
                    rename::confirm(&r.document, &*p.clusters, &*p.identity, &*p.clock).await
                },
            ))
        } else if swap_proxy::is_confirm_request(&input) {
            Box::pin(call(
                input,
                move |r: swap_proxy::ConfirmProxyRequest| async move {
                    swap_proxy::confirm(&r.document, &*p.identity, &*p.clock).await
                },
            ))
        } else if prewarm::is_prewarm_request(&input) {
            Box::pin(call(input, move |i: prewarm::PrewarmInput| async move {
                let deps = prewarm::Deps {
                    warmer: &*p.warmer,
                    clock: &*p.clock,
                };
                prewarm::run(&i, &deps).await
            }))
        } else if parity::is_parity_request(&input) {
            Box::pin(call(input, move |i: parity::ParityInput| async move {
                let deps = parity::Deps {
                    source: &*p.source_verifier,
                    target: &*p.target_verifier,
                    clusters: Some(&*p.clusters),
                    clock: &*p.clock,
                };
                parity::run(&i, &deps).await
            }))
        } else if verify_online::is_online_request(&input) {
            Box::pin(call(
                input,
                move |i: verify_online::OnlineInput| async move {
                    let deps = verify_online::Deps {
                        source: &*p.source_verifier,
                        target: &*p.target_verifier,
                        markers: &*p.fence_sql,
                        clock: &*p.clock,
                        sleeper: &*p.sleeper,
                        settings: p.verify_online,
                    };
                    verify_online::run(&i, &deps).await
                },
            ))
        } else {
            // The failback verifies from the new cluster to the old one (on AWS the verify
            // Lambda reads the sides from the reversed `restore` it is given).
            let reverse = failback::is_failback_request(&input);
            Box::pin(call(input, move |i: verify::VerifyInput| async move {
                let (source, target) = if reverse {
                    (&*p.target_verifier, &*p.source_verifier)
                } else {
                    (&*p.source_verifier, &*p.target_verifier)
                };
                let deps = verify::Deps {
                    source,
                    target,
                    clock: &*p.clock,
                    sleeper: &*p.sleeper,
                };
                verify::run(&i, &deps).await
            }))
        }
    });
    // One function serves the swap, the TTL actions and the proxy's, as the swap-dns Lambda does.
    add("swap-dns", |p, input| {
        if rename::is_check_request(&input) {
            Box::pin(call(input, move |i: rename::CheckRenameInput| async move {
                rename::check(&i, &*p.clusters).await
            }))
        } else if rename::is_rename_request(&input) {
            Box::pin(call(input, move |r: rename::RenameRequest| async move {
                let deps = rename::Deps {
                    clusters: &*p.clusters,
                    clock: &*p.clock,
                    lock: &*p.lock,
                };
                rename::run_holding_lock(&r.into_input(), &deps).await
            }))
        } else if swap_proxy::is_check_request(&input) {
            Box::pin(call(
                input,
                move |i: swap_proxy::CheckProxyInput| async move {
                    swap_proxy::check(&i, &*p.proxies).await
                },
            ))
        } else if swap_proxy::is_proxy_request(&input) {
            Box::pin(call(
                input,
                move |r: swap_proxy::SwapProxyRequest| async move {
                    let deps = swap_proxy::Deps {
                        proxies: &*p.proxies,
                        clock: &*p.clock,
                        lock: &*p.lock,
                    };
                    swap_proxy::run_holding_lock(&r.into_input(), &deps).await
                },
            ))
        } else if dns_ttl::is_ttl_request(&input) {
            Box::pin(call(input, move |i: dns_ttl::DnsTtlInput| async move {
                let deps = dns_ttl::Deps {
                    dns: &*p.dns,
                    clock: &*p.clock,
                    lock: &*p.lock,
                };
                dns_ttl::run_holding_lock(&i, &deps).await
            }))
        } else {
            Box::pin(call(input, move |i: swap_dns::SwapDnsInput| async move {
                let deps = swap_dns::Deps {
                    dns: &*p.dns,
                    clock: &*p.clock,
                    lock: &*p.lock,
                };
                swap_dns::run_holding_lock(&i, &deps).await
            }))
        }
    });
    add("stop-migration", |p, input| {
        Box::pin(call(
            input,
            move |i: stop_migration::StopMigrationInput| async move {
                let deps = stop_migration::Deps {
                    replication: &*p.replication,
                };
                stop_migration::run(&i, &deps).await
            },
        ))
    });
    add("cleanup", |p, input| {
        Box::pin(call(input, move |i: cleanup::CleanupInput| async move {
            let deps = cleanup::Deps {
                replication: &*p.replication,
                reverse_replication: None,
                clusters: &*p.clusters,
                retirement: &*p.retirement,
                fence_sql: &*p.fence_sql,
                retention: p.retention.as_deref(),
                parameters: &*p.parameters,
                clock: &*p.clock,
                lock: &*p.lock,
            };
            cleanup::run_holding_lock(&i, &deps).await
        }))
    });
    registry.register_fn("arn:aws:states:::sns:publish", move |input| {
        let notifications = notifications.clone();
        async move {
            let message_id = {
                let mut all = notifications
                    .0
                    .lock()
                    .map_err(|_| TaskError::runtime("notifications lock poisoned"))?;
                all.push(input);
                all.len()
            };
            Ok(json!({ "MessageId": format!("local-{message_id}") }))
        }
    })
}

type StepFuture = std::pin::Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;
/// Runs one step on its input with the ports.
type Handler = fn(Arc<Ports>, Value) -> StepFuture;

/// A Task resource served by a core step.
struct StepHandler {
    ports: Arc<Ports>,
    run: Handler,
}

#[async_trait::async_trait]
impl TaskHandler for StepHandler {
    async fn invoke(&self, input: Value, _context: TaskContext) -> Result<Value, TaskError> {
        (self.run)(self.ports.clone(), input).await
    }
}

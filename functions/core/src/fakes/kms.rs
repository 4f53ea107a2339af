//! KMS keys, reachable by id, ARN and alias.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::PortError;
use crate::ports::{KmsKey, KmsKeys, PortResult};

/// KMS keys by every reference that resolves to them (id, ARN, alias). Read-only.
#[derive(Default)]
pub struct FakeKms {
    keys: Mutex<BTreeMap<String, KmsKey>>,
    failures: Failures,
}

/// The ARN of the customer managed key [`FakeKms::with_key`] creates for an alias.
pub fn key_arn(alias: &str) -> String {
    let id = format!("{:08x}-0000-4000-8000-000000000000", fnv(alias));
    format!("arn:aws:kms:eu-west-1:123456789012:key/{id}")
}

fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl FakeKms {
    /// An enabled symmetric customer managed key reachable as `alias`, its id and its ARN; and
    /// the AWS managed `alias/aws/rds`.
    pub fn with_key(alias: &str) -> Self {
        let fake = Self::default();
        fake.add_key(alias, "Enabled", "CUSTOMER");
        fake.add_key("alias/aws/rds", "Enabled", "AWS");
        fake
    }

    pub fn add_key(&self, alias: &str, state: &str, manager: &str) -> KmsKey {
        let arn = key_arn(alias);
        let key = KmsKey {
            key_id: arn.rsplit('/').next().unwrap_or_default().to_string(),
            arn: arn.clone(),
            state: state.into(),
            usage: "ENCRYPT_DECRYPT".into(),
            spec: "SYMMETRIC_DEFAULT".into(),
            manager: manager.into(),
        };
        let mut keys = lock(&self.keys);
        for reference in [alias.to_string(), arn, key.key_id.clone()] {
            keys.insert(reference, key.clone());
        }
        key
    }

    /// Changes every reference's view of the key behind `alias`.
    pub fn update(&self, alias: &str, f: impl Fn(&mut KmsKey)) {
        let arn = key_arn(alias);
        for key in lock(&self.keys).values_mut().filter(|k| k.arn == arn) {
            f(key);
        }
    }

    pub fn fail_next(&self, error: PortError) {
        self.failures.push("describe_key", error);
    }
}

#[async_trait]
impl KmsKeys for FakeKms {
    async fn describe_key(&self, key: &str) -> PortResult<Option<KmsKey>> {
        self.failures.take("describe_key")?;
        Ok(lock(&self.keys).get(key).cloned())
    }
}

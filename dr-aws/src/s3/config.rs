//! Settings of `aws.s3_replication`.

use dr_core::{ConfigError, Settings, check_length};
use serde::Deserialize;

use crate::config::{own, require};

/// `provider = "aws.s3_replication"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3ReplicationConfig {
    /// The source bucket.
    pub bucket: String,
    /// The destination bucket.
    pub destination_bucket: String,
    /// The IAM role S3 assumes for the reverse rule (destination -> source).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// An object key to measure lag with: written to the source, read from the destination.
    #[serde(default)]
    pub canary_key: Option<String>,
    /// The destination bucket's region when it differs from `region`.
    #[serde(default)]
    pub destination_region: Option<String>,
}

impl S3ReplicationConfig {
    /// Reads and checks the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        require(settings, &["bucket", "destination_bucket"])?;
        let c: S3ReplicationConfig = own(settings)?;
        // S3's documented limits: bucket names of 3 to 63 characters, keys of at
        // most 1024 bytes, ARNs of at most 2048 characters.
        check_length("bucket", &c.bucket, 3, 63)?;
        check_length("destination_bucket", &c.destination_bucket, 3, 63)?;
        if let Some(arn) = &c.role_arn {
            check_length("role_arn", arn, 1, 2048)?;
        }
        if let Some(key) = &c.canary_key
            && key.len() > 1024
        {
            return Err(ConfigError::key(
                "canary_key",
                format!("is {} bytes long; S3 allows at most 1024", key.len()),
            ));
        }
        Ok(c)
    }

    /// Replication from `bucket` to `destination_bucket`.
    pub fn new(bucket: impl Into<String>, destination_bucket: impl Into<String>) -> Self {
        S3ReplicationConfig {
            bucket: bucket.into(),
            destination_bucket: destination_bucket.into(),
            role_arn: None,
            canary_key: None,
            destination_region: None,
        }
    }

    /// Sets the role for the reverse rule (enables `reverse`).
    pub fn with_role_arn(mut self, arn: impl Into<String>) -> Self {
        self.role_arn = Some(arn.into());
        self
    }

    /// Measures lag with a canary object at `key`.
    pub fn with_canary_key(mut self, key: impl Into<String>) -> Self {
        self.canary_key = Some(key.into());
        self
    }
}

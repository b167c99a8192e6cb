//! `etcd://H:P,H:P,H:P[?prefix=/dr&lease_ttl=5s]`.

use std::time::Duration;

use dr_core::ConfigError;

/// A parsed `--coordination` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdUrl {
    /// `http://H:P` per member.
    pub endpoints: Vec<String>,
    /// Key prefix, without a trailing `/` (default `/dr`).
    pub prefix: String,
    /// Lease of the plan lock and of each watcher (default 5 s, at least 1 s).
    pub lease_ttl: Duration,
}

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "/dr";
/// The default lease.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

impl EtcdUrl {
    /// Parses `etcd://H:P,H:P[?prefix=/dr&lease_ttl=5s]`. Nothing is contacted.
    pub fn parse(url: &str) -> Result<EtcdUrl, ConfigError> {
        let bad = |why: String| ConfigError::key("coordination", why);
        let rest = url.strip_prefix("etcd://").ok_or_else(|| {
            bad(format!(
                "`{url}` is not an etcd URL: expected etcd://HOST:PORT[,HOST:PORT..][?prefix=/dr]"
            ))
        })?;
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut endpoints = Vec::new();
        for h in hosts.split(',').map(str::trim) {
            let Some((host, port)) = h.rsplit_once(':') else {
                return Err(bad(format!("`{h}` in `{url}` has no :PORT")));
            };
            if host.is_empty() || host.contains('/') || host.contains('@') {
                return Err(bad(format!("`{h}` in `{url}` is not HOST:PORT")));
            }
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(bad(format!("`{h}` in `{url}` has no valid port")));
            }
            endpoints.push(format!("http://{host}:{port}"));
        }
        let mut prefix = DEFAULT_PREFIX.to_string();
        let mut lease_ttl = DEFAULT_LEASE_TTL;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "prefix" => {
                    if !v.starts_with('/') || v.len() < 2 {
                        return Err(bad(format!(
                            "prefix `{v}` must start with / and name something (e.g. /dr)"
                        )));
                    }
                    prefix = v.trim_end_matches('/').to_string();
                }
                "lease_ttl" => {
                    let d = dr_core::parse_duration(v)
                        .map_err(|e| bad(format!("lease_ttl `{v}`: {e}")))?;
                    if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
                        return Err(bad(format!(
                            "lease_ttl `{v}`: etcd leases are whole seconds, at least 1s"
                        )));
                    }
                    lease_ttl = d;
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter `{other}` in `{url}` (known: prefix, lease_ttl)"
                    )));
                }
            }
        }
        Ok(EtcdUrl {
            endpoints,
            prefix,
            lease_ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_prefix_and_lease_are_read() {
        let u = EtcdUrl::parse("etcd://10.0.1.5:2379,10.1.1.5:2379,witness.example:2379").unwrap();
        assert_eq!(
            u.endpoints,
            [
                "http://10.0.1.5:2379",
                "http://10.1.1.5:2379",
                "http://witness.example:2379"
            ]
        );
        assert_eq!(u.prefix, "/dr");
        assert_eq!(u.lease_ttl, Duration::from_secs(5));
        let u = EtcdUrl::parse("etcd://h:1?prefix=/team/dr/&lease_ttl=3s").unwrap();
        assert_eq!(u.prefix, "/team/dr");
        assert_eq!(u.lease_ttl, Duration::from_secs(3));
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("http://h:1", "not an etcd URL"),
            ("etcd://h", "no :PORT"),
            ("etcd://h:0", "no valid port"),
            ("etcd://u@h:1", "not HOST:PORT"),
            ("etcd://h:1?prefix=dr", "must start with /"),
            ("etcd://h:1?lease_ttl=500ms", "whole seconds"),
            ("etcd://h:1?ttl=5s", "unknown parameter `ttl`"),
        ] {
            let e = EtcdUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
        }
    }
}

//! The Azurite blob emulator, started per test on a free loopback port.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The environment variable naming the `azurite-blob` executable
/// (`scripts/deps/azurite.sh` sets it).
pub const AZURITE_ENV: &str = "DR_AZURITE_BLOB";
/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// An account SAS (`sv=2021-06-08`, blob service, service/container/object,
/// read/write/delete/list/add/create, valid until 2099) for `account`, signed with
/// `key` (base64) by HMAC-SHA256 over the documented string-to-sign.
pub fn account_sas(account: &str, key: &str) -> String {
    let (sv, ss, srt, sp, se) = ("2021-06-08", "b", "sco", "rwdlac", "2099-01-01T00:00:00Z");
    // account, permissions, services, resource types, start, expiry, IP, protocol,
    // version, encryption scope, then a final newline.
    let to_sign = format!("{account}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n\n{sv}\n\n");
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("the account key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig: String = url::form_urlencoded::byte_serialize(sig.as_bytes()).collect();
    let se: String = url::form_urlencoded::byte_serialize(se.as_bytes()).collect();
    format!("sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={se}&sig={sig}")
}

/// A running `azurite-blob`; killed when dropped.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    port: u16,
}

impl Azurite {
    /// Starts `azurite-blob --blobHost 127.0.0.1 --blobPort <free port>
    /// --inMemoryPersistence --disableTelemetry --skipApiVersionCheck --loose` and
    /// waits until it accepts connections.
    ///
    /// # Panics
    /// When Azurite is not installed (with how to install it) or does not start.
    pub fn start() -> Self {
        let bin = std::env::var(AZURITE_ENV)
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "azurite-blob".to_string());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start `{bin}` ({e}); these tests run the Azurite blob emulator: \
                     run `scripts/test` (it installs azurite@3.35.0 with npm and sets {AZURITE_ENV}), \
                     or `npm install azurite@3.35.0` and set {AZURITE_ENV} to node_modules/.bin/azurite-blob"
                )
            });
        let mut azurite = Azurite { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = azurite.child.try_wait() {
                panic!("`{bin}` exited with {status} before accepting connections");
            }
            assert!(
                Instant::now() < deadline,
                "`{bin}` did not listen on 127.0.0.1:{port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        azurite.port = port;
        azurite
    }

    /// The blob endpoint of the development account, with an account SAS:
    /// `http://127.0.0.1:PORT/devstoreaccount1?SAS`; `secondary` gives the
    /// `devstoreaccount1-secondary` endpoint.
    pub fn blob_url(&self, secondary: bool) -> String {
        let suffix = if secondary { "-secondary" } else { "" };
        format!(
            "http://127.0.0.1:{}/{AZURITE_ACCOUNT}{suffix}?{}",
            self.port,
            account_sas(AZURITE_ACCOUNT, AZURITE_KEY)
        )
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

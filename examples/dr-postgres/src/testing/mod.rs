//! A real PostgreSQL primary and streaming standby on loopback, for tests (the
//! `testing` feature).
//!
//! [`pair`] runs `initdb`, starts a primary on a free `127.0.0.1` port in a temp
//! dir, makes a standby with `pg_basebackup -R` and starts it on another port.
//! Both are stopped (`pg_ctl stop -m immediate`) when dropped. Connections
//! authenticate with SCRAM as the superuser `postgres` ([`SUPERUSER_PASSWORD`]).
//!
//! The servers run with `wal_log_hints = on` and `wal_keep_size = 128MB`, so
//! that an old primary can be rewound onto its promoted standby with
//! `pg_rewind` ([`PgServer::rejoin_command`]), and with `autovacuum = off`, so
//! that a primary writes no WAL a test did not ask for, save the standby
//! snapshot its background writer logs on its own ([`PgServer::settle`]).
//!
//! The binaries come from `$DR_PG_BINDIR`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's place, not on `PATH`), else `PATH`.
//! PostgreSQL refuses to run as root, and CI runs as root: then every server
//! command runs as the `postgres` user the Debian package creates
//! (`runuser -u postgres`), in a temp dir that user owns.

use std::ffi::OsString;
use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio_postgres::{Client, NoTls};

mod failback;

/// The superuser's password on every test server.
pub const SUPERUSER_PASSWORD: &str = "dr-test-superuser";

const INSTALL: &str = "install PostgreSQL (Debian: `apt-get install postgresql`), or run \
                       `scripts/test`, which does, or set DR_PG_BINDIR to the directory of \
                       initdb and pg_ctl";

/// A running PostgreSQL server on `127.0.0.1`, stopped on drop.
pub struct PgServer {
    port: u16,
    data: PathBuf,
    // Keeps the data directory until the server is stopped.
    _dir: tempfile::TempDir,
    bindir: PathBuf,
}

impl fmt::Debug for PgServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("data", &self.data)
            .field("running", &self.running_now())
            .finish()
    }
}

/// A primary and a standby streaming from it.
pub async fn pair() -> (PgServer, PgServer) {
    let primary = PgServer::start_primary().await;
    let standby = primary.start_standby().await;
    standby.wait_streaming(&primary).await;
    (primary, standby)
}

impl PgServer {
    /// `initdb` and start a primary.
    pub async fn start_primary() -> Self {
        let bindir = pg_bindir();
        let dir = server_dir();
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).expect("write the password file");
        give_to_postgres(&pwfile);
        run(
            &bindir,
            "initdb",
            &[
                "-D".into(),
                data.clone().into(),
                "-U".into(),
                "postgres".into(),
                "--auth-local=trust".into(),
                "--auth-host=scram-sha-256".into(),
                format!("--pwfile={}", pwfile.display()).into(),
                "--no-sync".into(),
                "-E".into(),
                "UTF8".into(),
            ],
            &[],
        )
        .await;
        let port = free_port();
        append_conf(
            &data,
            &format!(
                "listen_addresses = '127.0.0.1'\nport = {port}\n\
                 unix_socket_directories = '{}'\nfsync = off\nwal_level = replica\n\
                 max_wal_senders = 8\nhot_standby = on\nwal_receiver_status_interval = 1s\n\
                 wal_log_hints = on\nwal_keep_size = '128MB'\n\
                 autovacuum = off\nbgwriter_delay = 10ms\n",
                dir.path().display()
            ),
        );
        let server = PgServer {
            port,
            data,
            _dir: dir,
            bindir,
        };
        server.pg_ctl_start().await;
        server
    }

    /// A standby of this server: `pg_basebackup -R`, its own port, started.
    pub async fn start_standby(&self) -> PgServer {
        let dir = server_dir();
        let data = dir.path().join("data");
        run(
            &self.bindir,
            "pg_basebackup",
            &[
                "-h".into(),
                "127.0.0.1".into(),
                "-p".into(),
                self.port.to_string().into(),
                "-U".into(),
                "postgres".into(),
                "-D".into(),
                data.clone().into(),
                "-R".into(),
                "-X".into(),
                "stream".into(),
                "-c".into(),
                "fast".into(),
                "--no-sync".into(),
            ],
            &[("PGPASSWORD", SUPERUSER_PASSWORD)],
        )
        .await;
        let port = free_port();
        append_conf(
            &data,
            &format!(
                "port = {port}\nunix_socket_directories = '{}'\n",
                dir.path().display()
            ),
        );
        let server = PgServer {
            port,
            data,
            _dir: dir,
            bindir: self.bindir.clone(),
        };
        server.pg_ctl_start().await;
        server
    }

    async fn pg_ctl_start(&self) {
        let log = self.data.parent().expect("a parent dir").join("server.log");
        run(
            &self.bindir,
            "pg_ctl",
            &[
                "-D".into(),
                self.data.clone().into(),
                "-l".into(),
                log.into(),
                "-w".into(),
                "-t".into(),
                "60".into(),
                "start".into(),
            ],
            &[],
        )
        .await;
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres` (the password is
    /// [`SUPERUSER_PASSWORD`], not in the URL).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A URL for `user` on this server (no password in it).
    pub fn url_for(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        let log = self.data.parent().expect("a parent dir").join("server.log");
        std::fs::read_to_string(log).unwrap_or_default()
    }

    /// A superuser connection.
    pub async fn client(&self) -> Client {
        self.connect("postgres", SUPERUSER_PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{}: {e}", self.port))
    }

    /// A connection as `user` with `password`.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        let (client, conn) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(5))
            .connect(NoTls)
            .await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// Runs `sql` as the superuser.
    pub async fn exec(&self, sql: &str) {
        self.client()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("on 127.0.0.1:{}: {sql}: {e}", self.port));
    }

    /// Waits until `self` streams from `primary` and has replayed everything
    /// `primary` has written.
    pub async fn wait_streaming(&self, primary: &PgServer) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(client) = primary.connect("postgres", SUPERUSER_PASSWORD).await
                && let Ok(row) = client
                    .query_one(
                        "SELECT count(*) FROM pg_stat_replication \
                          WHERE state = 'streaming' \
                            AND replay_lsn = pg_current_wal_lsn()",
                        &[],
                    )
                    .await
                && row.get::<_, i64>(0) > 0
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "127.0.0.1:{} did not stream from {} within 30s; log:\n{}",
                self.port,
                primary.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): a crash, as far as
    /// clients can tell.
    pub fn kill(&mut self) {
        if !self.running_now() {
            return;
        }
        let _ = std::process::Command::new(as_server_user_program())
            .args(as_server_user_args(
                &self.bindir.join("pg_ctl"),
                &[
                    "-D".into(),
                    self.data.clone().into(),
                    "-m".into(),
                    "immediate".into(),
                    "-w".into(),
                    "stop".into(),
                ],
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn running_now(&self) -> bool {
        self.data.join("postmaster.pid").exists()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The directory of `initdb`, `pg_ctl` and `pg_basebackup`, or a panic saying how
/// to install them.
pub fn pg_bindir() -> PathBuf {
    let has = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("DR_PG_BINDIR").map(PathBuf::from)
        && has(&dir)
    {
        return dir;
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| has(d))
        .collect();
    debian.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = debian.pop() {
        return dir;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|d| has(d))
        .unwrap_or_else(|| {
            panic!("PostgreSQL's initdb and pg_ctl were not found, and these tests run real servers: {INSTALL}")
        })
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn as_server_user_program() -> &'static str {
    if is_root() { "runuser" } else { "env" }
}

/// The arguments that run `program args` as the server's user: `runuser -u
/// postgres -- program args` as root, else `env program args`.
fn as_server_user_args(program: &Path, args: &[OsString]) -> Vec<OsString> {
    let mut all: Vec<OsString> = Vec::new();
    if is_root() {
        all.extend(["-u".into(), "postgres".into(), "--".into()]);
    }
    all.push(program.into());
    all.extend(args.iter().cloned());
    all
}

async fn run(bindir: &Path, program: &str, args: &[OsString], env: &[(&str, &str)]) {
    let mut all: Vec<OsString> = env
        .iter()
        .map(|(k, v)| OsString::from(format!("{k}={v}")))
        .collect();
    let path = bindir.join(program);
    let mut cmd = Command::new(as_server_user_program());
    if is_root() {
        // runuser -u postgres -- env K=V program args
        let mut rest = vec![OsString::from("env")];
        rest.append(&mut all);
        rest.push(path.clone().into());
        rest.extend(args.iter().cloned());
        cmd.args(["-u", "postgres", "--"]).args(rest);
    } else {
        all.push(path.clone().into());
        all.extend(args.iter().cloned());
        cmd.args(all);
    }
    let out = cmd
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL}", path.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temp dir the server's user owns.
fn server_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("dr-pg-")
        .tempdir()
        .expect("a temp dir");
    give_to_postgres(dir.path());
    dir
}

fn give_to_postgres(path: &Path) {
    if !is_root() {
        return;
    }
    let user = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "running as root, and PostgreSQL refuses to: these tests run it as the \
                 `postgres` user, which does not exist; {INSTALL}"
            )
        });
    nix::unistd::chown(path, Some(user.uid), Some(user.gid))
        .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
}

fn append_conf(data: &Path, lines: &str) {
    use std::io::Write;
    let path = data.join("postgresql.conf");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(lines.as_bytes())
        .expect("append to postgresql.conf");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

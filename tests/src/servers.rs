//! Private PostgreSQL and NATS servers that one test owns, so it can stop and restart them
//! (an outage) without disturbing the shared servers every other test uses.
//!
//! Each server lives in its own directory under the system temporary directory, listens on a
//! free loopback port that it keeps across restarts, keeps its data across restarts, and is
//! killed and its directory deleted when dropped. Every wait for readiness is bounded.

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a private server may take to accept clients after it was started.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long a stopped server may take to exit.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// The lowest port a private server is given; below it are the well-known and registered
/// services people run on their machines.
const LOWEST_PRIVATE_PORT: u16 = 10_000;

/// A free TCP port on loopback for a private server, chosen below the kernel's ephemeral range.
///
/// The server binds the port seconds later (after `initdb`, say), and it binds it again after
/// every restart. A port from the ephemeral range could meanwhile be handed to anyone binding
/// port 0 — the tests' own HTTP listeners do, many at a time — and the server would then fail
/// to start while a readiness probe found some other program answering on its port. Below
/// the ephemeral range the kernel hands out no port by itself, so only another test's private
/// server could take it, and the random choice makes that as unlikely as it needs to be.
fn free_port() -> anyhow::Result<u16> {
    let ephemeral_start = ephemeral_port_range_start();
    let candidates = ephemeral_start.saturating_sub(LOWEST_PRIVATE_PORT);
    if candidates < 1000 {
        // The machine gives nearly every port to the ephemeral range; take one from it.
        return Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port());
    }
    for _ in 0..1000 {
        let offset = (uuid::Uuid::new_v4().as_u128() % u128::from(candidates)) as u16;
        let port = LOWEST_PRIVATE_PORT + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port between {LOWEST_PRIVATE_PORT} and {ephemeral_start} after 1000 tries")
}

/// Where the kernel's ephemeral ports begin (Linux's default when it cannot be read).
fn ephemeral_port_range_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A fresh directory under the system temporary directory; short, because a Unix socket path
/// must fit in about 100 bytes.
fn fresh_directory(prefix: &str) -> anyhow::Result<PathBuf> {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let path = std::env::temp_dir().join(format!("{prefix}-{}", &unique[..12]));
    std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(path)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Sends a signal by number to a process, through `kill(1)` (the tests do not link libc).
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Waits, bounded, for a child to exit; kills it if it does not.
fn wait_for_exit(child: &mut Child, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("the server did not exit within {within:?}; killed it")
}

/// Polls `ready` until it holds, or fails after [`READY_WITHIN`] or when the child exits.
async fn wait_until_ready(
    what: &str,
    child: &mut Child,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{what} exited during start-up ({status}); its log:\n{log}");
        }
        if Instant::now() >= deadline {
            bail!("{what} did not become ready within {READY_WITHIN:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where the PostgreSQL server binaries are: on `PATH`, or the newest `/usr/lib/postgresql/*/bin`.
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for directory in std::env::split_paths(&path) {
            if directory.join("postgres").is_file() && directory.join("initdb").is_file() {
                return Ok(directory);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no postgres on PATH and no /usr/lib/postgresql")?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("postgres").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no PostgreSQL server binaries under /usr/lib/postgresql")
}

/// A PostgreSQL server of one test: trust authentication for `postgres` on 127.0.0.1.
pub struct PrivatePostgres {
    pub port: u16,
    directory: PathBuf,
    bin: PathBuf,
    /// PostgreSQL refuses to run as root; as root it runs as the `postgres` user.
    run_as_postgres: bool,
    child: Option<Child>,
}

impl PrivatePostgres {
    /// Initializes a cluster in a fresh directory and starts it.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = postgres_bin_dir()?;
        let directory = fresh_directory("abacus-pg")?;
        let run_as_postgres = is_root();
        let mut server = Self {
            port: free_port()?,
            directory,
            bin,
            run_as_postgres,
            child: None,
        };
        std::fs::create_dir_all(server.socket_directory())?;
        if run_as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&server.directory)
                .status()?;
            if !status.success() {
                bail!("cannot chown {} to postgres", server.directory.display());
            }
        }
        let output = server
            .command("initdb")
            .arg("-D")
            .arg(server.data_directory())
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .output()
            .context("cannot run initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        server.start_again().await?;
        Ok(server)
    }

    /// The URL of a database on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server again on the same port with the same data, and waits until it
    /// accepts connections.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("the private postgres is already running");
        }
        let log = std::fs::File::create(self.log_path())?;
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_directory())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.socket_directory())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start postgres")?;
        let url = self.url("postgres");
        let deadline = Instant::now() + READY_WITHIN;
        let log_path = self.log_path();
        wait_until_ready("postgres", &mut child, &log_path, || {
            TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        })
        .await?;
        // The port opens before recovery ends; connect until a session is accepted.
        use sqlx::Connection as _;
        loop {
            let refusal = match sqlx::PgConnection::connect(&url).await {
                Ok(_) => break,
                Err(error) => error,
            };
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("postgres exited during start-up ({status}); its log:\n{log}");
            }
            if Instant::now() >= deadline {
                bail!("postgres on port {} refuses sessions: {refusal}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.child = Some(child);
        Ok(())
    }

    /// Fast shutdown (`SIGINT`: sessions are ended, the server exits cleanly), waiting until
    /// it has exited.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.shut_down("INT")
    }

    fn shut_down(&mut self, how: &str) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // The child may be `runuser`; the postmaster's own pid is in postmaster.pid.
        if let Some(pid) = self.postmaster_pid() {
            signal(pid, how);
        } else {
            signal(child.id(), how);
        }
        wait_for_exit(&mut child, EXIT_WITHIN)
    }

    fn postmaster_pid(&self) -> Option<u32> {
        let pid_file =
            std::fs::read_to_string(self.data_directory().join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn data_directory(&self) -> PathBuf {
        self.directory.join("data")
    }

    fn socket_directory(&self) -> PathBuf {
        self.directory.join("socket")
    }

    fn log_path(&self) -> PathBuf {
        // Written by this process (it opens the file), not by the postgres user.
        self.directory.join("postgres.log")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Immediate shutdown: nothing of this server's data is kept anyway.
        let _ = self.shut_down("QUIT");
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Where `nats-server` is: `/usr/sbin/nats-server`, or on `PATH`.
fn nats_server_binary() -> PathBuf {
    let packaged = PathBuf::from("/usr/sbin/nats-server");
    if packaged.is_file() {
        packaged
    } else {
        PathBuf::from("nats-server")
    }
}

/// A NATS server with JetStream of one test, its store on disk so that a restart keeps the
/// streams, their messages and the durable consumers.
pub struct PrivateNats {
    pub port: u16,
    directory: PathBuf,
    /// The server's `max_payload` when a test sets one (the server's default otherwise).
    max_payload_bytes: Option<usize>,
    child: Option<Child>,
}

impl PrivateNats {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None).await
    }

    /// A server that refuses messages larger than `max_payload_bytes`, for tests of what is
    /// done with a batch too big to publish whole.
    pub async fn start_with_max_payload(max_payload_bytes: usize) -> anyhow::Result<Self> {
        Self::start_with(Some(max_payload_bytes)).await
    }

    async fn start_with(max_payload_bytes: Option<usize>) -> anyhow::Result<Self> {
        let mut server = Self {
            port: free_port()?,
            directory: fresh_directory("abacus-nats")?,
            max_payload_bytes,
            child: None,
        };
        server.start_again().await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port with the same store, and waits until it
    /// accepts clients with JetStream on.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("the private nats-server is already running");
        }
        let log_path = self.directory.join("nats.log");
        let log = std::fs::File::create(&log_path)?;
        let mut command = Command::new(nats_server_binary());
        // `max_payload` has no command-line flag; a configuration file holds it.
        if let Some(max_payload_bytes) = self.max_payload_bytes {
            let config_path = self.directory.join("nats.conf");
            std::fs::write(&config_path, format!("max_payload: {max_payload_bytes}\n"))?;
            command.arg("-c").arg(config_path);
        }
        let mut child = command
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.directory.join("store"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start nats-server")?;
        let port = self.port;
        wait_until_ready("nats-server", &mut child, &log_path, || {
            jetstream_is_on(port)
        })
        .await?;
        self.child = Some(child);
        Ok(())
    }

    /// Stops the server (`SIGTERM`, a clean shutdown) and waits until it has exited.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal(child.id(), "TERM");
        wait_for_exit(&mut child, EXIT_WITHIN)
    }
}

/// Whether a NATS server answers on `port` with JetStream enabled (its `INFO` line says so).
fn jetstream_is_on(port: u16) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut info = String::new();
    BufReader::new(stream).read_line(&mut info).is_ok()
        && info.starts_with("INFO")
        && info.contains("\"jetstream\":true")
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

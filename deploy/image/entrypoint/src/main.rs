//! `abacus`: the container image's entrypoint. The image has no shell, so this small program
//! does the two things a shell script would:
//!
//! * `abacus aggregator|storage-worker|api [ARGS...]` replaces itself (exec) with the service
//!   binary installed beside it, `abacus-<service>`, passing ARGS on (`--config FILE`). The
//!   service is then the container's first process and receives SIGTERM itself.
//! * `abacus health` asks the service running as the container's first process whether it is
//!   ready, over HTTP on its own address, and exits 0 only on a 200 answer: the aggregator's
//!   `/healthz` (its only health route), the storage worker's and the API's `/readyz`. The
//!   address comes from the service's own settings, read exactly as the service reads them (its
//!   `--config` file, then the `ABACUS_*` environment), so a moved port is followed.
//!   `abacus health URL` checks that URL instead.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// The services the image holds: the name given to `abacus` and the binary's name.
const SERVICES: [(&str, &str); 3] = [
    ("aggregator", "abacus-aggregator"),
    ("storage-worker", "abacus-storage-worker"),
    ("api", "abacus-api"),
];

/// A health check that takes longer than this has failed.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

const USAGE: &str = "usage: abacus aggregator|storage-worker|api [--config FILE]\n       abacus health [http://HOST:PORT/PATH]";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(command) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let command = command.to_string_lossy().into_owned();
    let rest: Vec<_> = args.collect();
    if command == "health" {
        let target = match rest.first() {
            Some(url) => parse_http_url(&url.to_string_lossy()),
            None => first_process_target(),
        };
        return match target.and_then(|(address, path)| check(address, &path)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("abacus health: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let Some((_, binary)) = SERVICES.iter().find(|(name, _)| *name == command) else {
        eprintln!("abacus: unknown command {command:?}\n{USAGE}");
        return ExitCode::from(2);
    };
    let path = beside_this_program(binary);
    // exec only returns on failure.
    let error = Command::new(&path).args(rest).exec();
    eprintln!("abacus: cannot run {}: {error}", path.display());
    ExitCode::from(127)
}

fn beside_this_program(binary: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(binary)))
        .unwrap_or_else(|| PathBuf::from(binary))
}

/// Which service the container's first process is, and where its health route is.
fn first_process_target() -> Result<(SocketAddr, String), String> {
    let cmdline = std::fs::read("/proc/1/cmdline")
        .map_err(|error| format!("cannot read /proc/1/cmdline: {error}"))?;
    let argv: Vec<String> = cmdline
        .split(|byte| *byte == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    let program = argv
        .first()
        .map(|arg0| {
            Path::new(arg0)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let config = config_argument(&argv[1.min(argv.len())..]);
    let config = config.as_deref();
    use abacus_proto::settings::load;
    let (address, path) = match program.as_str() {
        "abacus-aggregator" => load::<abacus_aggregator::config::Config>(config)
            .map(|settings| (settings.aggregator.admin_address, "/healthz")),
        "abacus-storage-worker" => load::<abacus_storage_worker::config::Config>(config)
            .map(|settings| (settings.storage_worker.admin_address, "/readyz")),
        "abacus-api" => load::<abacus_api::config::Config>(config)
            .map(|settings| (settings.api.listen_address, "/readyz")),
        other => {
            return Err(format!(
                "the first process is {other:?}, not an Abacus service; give the URL to check"
            ))
        }
    }
    .map_err(|error| format!("{program}'s settings: {error}"))?;
    Ok((loopback_if_unspecified(address), path.to_owned()))
}

/// The value of `--config FILE` or `--config=FILE` among a service's arguments.
fn config_argument(args: &[String]) -> Option<PathBuf> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(value) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    None
}

/// A service listening on every address (`0.0.0.0`, `::`) is asked on the loopback address.
fn loopback_if_unspecified(address: SocketAddr) -> SocketAddr {
    if !address.ip().is_unspecified() {
        return address;
    }
    let ip = match address.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    };
    SocketAddr::new(ip, address.port())
}

/// `http://HOST:PORT/PATH` with a literal IP address (a health check must not depend on DNS).
fn parse_http_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let address: SocketAddr = authority
        .parse()
        .map_err(|_| format!("{url:?} does not name an IP address and port"))?;
    Ok((address, path.to_owned()))
}

/// One HTTP/1.0 GET; success is a 200 status line.
fn check(address: SocketAddr, path: &str) -> Result<(), String> {
    let fail = |error: std::io::Error| format!("http://{address}{path}: {error}");
    let mut stream = TcpStream::connect_timeout(&address, HEALTH_TIMEOUT).map_err(fail)?;
    stream
        .set_read_timeout(Some(HEALTH_TIMEOUT))
        .map_err(fail)?;
    stream
        .set_write_timeout(Some(HEALTH_TIMEOUT))
        .map_err(fail)?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .map_err(fail)?;
    // Only the status line is needed: read until it is whole (or 4 KiB, or the end).
    let mut head = Vec::new();
    let mut chunk = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        match stream.read(&mut chunk).map_err(fail)? {
            0 => break,
            read => head.extend_from_slice(&chunk[..read]),
        }
    }
    let status_line = head.split(|byte| *byte == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line).trim_end().to_owned();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("http://{address}{path} answered {status_line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_config_argument_is_found_in_either_form() {
        let args = |list: &[&str]| list.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
        assert_eq!(
            config_argument(&args(&["--config", "/etc/abacus/abacus.toml"])),
            Some(PathBuf::from("/etc/abacus/abacus.toml"))
        );
        assert_eq!(
            config_argument(&args(&["--config=/a.toml"])),
            Some(PathBuf::from("/a.toml"))
        );
        assert_eq!(config_argument(&args(&[])), None);
        assert_eq!(config_argument(&args(&["--config"])), None);
    }

    #[test]
    fn urls_need_an_ip_address_and_port() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:8126/healthz"),
            Ok(("127.0.0.1:8126".parse().unwrap(), "/healthz".to_owned()))
        );
        assert_eq!(
            parse_http_url("http://[::1]:8080"),
            Ok(("[::1]:8080".parse().unwrap(), "/".to_owned()))
        );
        assert!(parse_http_url("https://127.0.0.1:1/").is_err());
        assert!(parse_http_url("http://localhost:8080/").is_err());
    }

    #[test]
    fn an_unspecified_address_is_asked_on_loopback() {
        assert_eq!(
            loopback_if_unspecified("0.0.0.0:8127".parse().unwrap()),
            "127.0.0.1:8127".parse().unwrap()
        );
        assert_eq!(
            loopback_if_unspecified("[::]:8080".parse().unwrap()),
            "[::1]:8080".parse().unwrap()
        );
        assert_eq!(
            loopback_if_unspecified("10.0.0.5:8080".parse().unwrap()),
            "10.0.0.5:8080".parse().unwrap()
        );
    }

    /// Serves one connection with `answer` and returns the address.
    fn one_answer(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // The whole request head, as a server reads it before answering.
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            assert!(request.starts_with(b"GET /"), "{request:?}");
            stream.write_all(answer.as_bytes()).unwrap();
        });
        address
    }

    #[test]
    fn only_a_200_is_healthy() {
        let healthy = one_answer("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n");
        assert_eq!(check(healthy, "/healthz"), Ok(()));
        let unready = one_answer("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let error = check(unready, "/readyz").unwrap_err();
        assert!(error.contains("503"), "{error}");
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(check(closed, "/healthz").is_err());
    }
}

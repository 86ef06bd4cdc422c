//! The aggregator benchmark's load generator and line counter (used by
//! tests/bench/aggregator.sh; not a test).
//!
//! ```text
//! statsd-load send --target 127.0.0.1:8125 --rate 1000000 --seconds 5 --keys 100 --prefix bench.r1
//! statsd-load count --nats nats://127.0.0.1:4222 --stream S --subject-prefix P --prefix bench.r1.
//! ```
//!
//! `send` blasts counter lines `<prefix>.k<i>:1|c` over UDP, 10 to 30 lines packed per
//! datagram (20 on average, as statsd clients with a buffer send them), cycling through
//! `--keys` distinct keys, at `--rate` lines per second (0: as fast as it can) for `--seconds`.
//! `--senders` (default 4) source sockets take turns, as several clients would: a server with
//! several `SO_REUSEPORT` sockets gets each sender's datagrams on one of them, chosen by
//! address, so a single source socket would exercise only one of its receive workers.
//! The datagrams are built once up front and sent 64 at a time with `sendmmsg(2)`, so one core
//! offers millions of lines per second and the generator is rarely what limits a run. It prints
//! `offered_lines=… seconds=… offered_lines_per_second=…`.
//!
//! `count` reads every flush batch of a JetStream stream (as the storage worker would) and sums
//! the counters whose name starts with `--prefix`; each line sent counts 1, so this is the
//! number of lines the aggregator actually counted. It polls until the total has not moved for
//! `--settle-seconds` (a flush or two) and prints `counted_lines=…`.
//!
//! `delete-stream --nats URL --stream S` removes the benchmark's private stream afterwards.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Datagrams per `sendmmsg` call: large enough to amortize the syscall, small enough that the
/// pacing stays smooth at low rates.
const BATCH: usize = 64;
/// Distinct datagrams built up front; with 20 lines each they cover 81,920 key slots, more than
/// the 10,000 keys the benchmark uses, so every key is hit.
const POOL: usize = 4096;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, options) = args
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("usage: statsd-load send|count --option value ..."))?;
    let options = parse_options(options)?;
    match command.as_str() {
        "send" => send(&options),
        "count" => count(&options),
        "delete-stream" => delete_stream(&options),
        other => anyhow::bail!("unknown command {other:?}: expected send or count"),
    }
}

fn parse_options(args: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let mut options = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [name, value] if name.starts_with("--") => {
                options.insert(name[2..].to_owned(), value.clone());
            }
            _ => anyhow::bail!("expected --name value pairs, got {pair:?}"),
        }
    }
    Ok(options)
}

fn option<T: std::str::FromStr>(options: &HashMap<String, String>, name: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    let text = options
        .get(name)
        .ok_or_else(|| anyhow::anyhow!("--{name} is required"))?;
    text.parse()
        .map_err(|error| anyhow::anyhow!("--{name} {text:?}: {error}"))
}

/// The datagram pool and how many lines each one carries.
fn build_pool(prefix: &str, keys: usize) -> (Vec<Vec<u8>>, Vec<u64>) {
    let mut datagrams = Vec::with_capacity(POOL);
    let mut lines = Vec::with_capacity(POOL);
    let mut key = 0;
    for index in 0..POOL {
        // 10, 11, …, 30, 10, …: a spread of datagram sizes averaging 20 lines.
        let count = 10 + index % 21;
        let mut datagram = Vec::with_capacity(count * (prefix.len() + 16));
        for line in 0..count {
            if line > 0 {
                datagram.push(b'\n');
            }
            datagram.extend_from_slice(format!("{prefix}.k{key}:1|c").as_bytes());
            key = (key + 1) % keys;
        }
        datagrams.push(datagram);
        lines.push(count as u64);
    }
    (datagrams, lines)
}

fn send(options: &HashMap<String, String>) -> anyhow::Result<()> {
    let target: SocketAddr = option(options, "target")?;
    let rate: f64 = option(options, "rate")?;
    let seconds: f64 = option(options, "seconds")?;
    let keys: usize = option(options, "keys")?;
    let prefix: String = option(options, "prefix")?;
    anyhow::ensure!(keys > 0, "--keys must be positive");
    let (datagrams, lines) = build_pool(&prefix, keys);

    let senders: usize = match options.get("senders") {
        Some(_) => option(options, "senders")?,
        None => 4,
    };
    anyhow::ensure!(senders > 0, "--senders must be positive");
    let sockets = (0..senders)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            // Connected, so each message needs no address and the kernel skips the route lookup.
            socket.connect(target)?;
            Ok(socket)
        })
        .collect::<std::io::Result<Vec<UdpSocket>>>()?;
    let mut calls = 0usize;
    let mut iovecs: Vec<libc::iovec> = datagrams
        .iter()
        .map(|datagram| libc::iovec {
            iov_base: datagram.as_ptr() as *mut libc::c_void,
            iov_len: datagram.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .map(|iovec| {
            // SAFETY: mmsghdr is a plain C struct; all-zero is its "no address, no control
            // data" value, and the iovec pointer is filled in right after.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_iov = iovec as *mut libc::iovec;
            header.msg_hdr.msg_iovlen = 1;
            header
        })
        .collect();

    let duration = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut next = 0usize;
    let mut offered_lines = 0u64;
    let mut send_errors = 0u64;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        // Pacing: stay at or below rate × elapsed. When ahead, sleep until the lines offered so
        // far are due (capped at the end of the run), in one sleep: waking every few
        // microseconds to look would take the generator's core time and caches from the
        // aggregator it shares the machine with, most of all at low rates.
        if rate > 0.0 && offered_lines as f64 >= rate * elapsed.as_secs_f64() {
            let due = Duration::from_secs_f64(offered_lines as f64 / rate).min(duration);
            std::thread::sleep(due.saturating_sub(elapsed));
            continue;
        }
        let count = BATCH.min(POOL - next);
        // SAFETY: headers[next..next + count] are initialized mmsghdrs whose iovecs point into
        // `datagrams`, which outlives the call; the kernel only reads them (and writes msg_len).
        let sent = unsafe {
            libc::sendmmsg(
                sockets[calls % senders].as_raw_fd(),
                headers[next..].as_mut_ptr(),
                count as libc::c_uint,
                0,
            )
        };
        if sent < 0 {
            // ENOBUFS and the like: the datagrams were not offered; count and go on.
            send_errors += 1;
            continue;
        }
        calls += 1;
        let sent = sent as usize;
        offered_lines += lines[next..next + sent].iter().sum::<u64>();
        next = (next + sent) % POOL;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "offered_lines={offered_lines} seconds={seconds:.3} offered_lines_per_second={:.0} send_errors={send_errors}",
        offered_lines as f64 / seconds
    );
    Ok(())
}

fn count(options: &HashMap<String, String>) -> anyhow::Result<()> {
    let nats = abacus_proto::settings::NatsSettings {
        url: option(options, "nats")?,
        stream: option(options, "stream")?,
        subject_prefix: option(options, "subject-prefix")?,
        ..Default::default()
    };
    let prefix: String = option(options, "prefix")?;
    let settle = Duration::from_secs_f64(option(options, "settle-seconds")?);
    let timeout = Duration::from_secs_f64(option(options, "timeout-seconds")?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut reader = abacus_tests::BatchReader::connect(&nats).await?;
        let deadline = Instant::now() + timeout;
        let mut total = f64::NAN;
        let mut unchanged_since = Instant::now();
        loop {
            let batches = reader.read_new().await?;
            let now_total = counter_prefix_total(batches, &prefix);
            if now_total != total {
                total = now_total;
                unchanged_since = Instant::now();
            } else if unchanged_since.elapsed() >= settle || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("counted_lines={total:.0}");
        anyhow::Ok(())
    })
}

fn delete_stream(options: &HashMap<String, String>) -> anyhow::Result<()> {
    let nats = abacus_proto::settings::NatsSettings {
        url: option(options, "nats")?,
        stream: option(options, "stream")?,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = abacus_proto::stream::connect(&nats).await?;
        async_nats::jetstream::new(client)
            .delete_stream(&nats.stream)
            .await?;
        anyhow::Ok(())
    })
}

fn counter_prefix_total(batches: &[abacus_proto::v1::FlushBatch], prefix: &str) -> f64 {
    use abacus_proto::v1::series_aggregate::Aggregate;
    batches
        .iter()
        .flat_map(|batch| &batch.series)
        .filter(|series| series.name.starts_with(prefix))
        .filter_map(|series| match &series.aggregate {
            Some(Aggregate::Counter(counter)) => Some(counter.count),
            _ => None,
        })
        .sum()
}

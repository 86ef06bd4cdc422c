//! Line protocols over TCP: accepts connections, frames each newline-delimited stream into
//! whole lines, and hands them to the receive loop.
//!
//! Every connection has its own task, so a slow or stalled client delays nobody else. A task
//! only frames bytes: it parses nothing and owns no aggregation state. Whole lines go to the
//! receive loop over one bounded channel shared by all connections, so every protocol and
//! connection feeds the same windows, and the windows keep a single owner (no locks on the hot
//! path, a flush is still one step of the receive loop). When the channel is full the
//! connection tasks wait, which is TCP's own flow control reaching the client: over TCP a
//! sender is slowed down rather than its data dropped.
//!
//! A line longer than `max_line_bytes` is skipped up to its newline and reported with the next
//! chunk; the connection goes on. A connection silent for `tcp_idle_timeout` is closed, so
//! abandoned clients do not hold tasks and sockets forever. At most `max_tcp_connections` are
//! served at once (shared by both listeners); more are closed at once and counted.
//!
//! On shutdown the listeners stop accepting and each connection hands over what it has already
//! received (also bytes the kernel holds but the task has not read yet) before it ends. Every
//! connection task owns a sender of the chunk channel, so the receive loop knows that all of
//! them are done when the channel closes.

use crate::stats::{Counter, SelfMetrics};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Which parser the lines of a chunk are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Statsd,
    Graphite,
}

/// Whole lines from one read of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChunk {
    pub protocol: Protocol,
    /// Complete lines, each ending in `\n`; possibly empty when only `lines_too_long` is news.
    pub lines: Bytes,
    /// Lines skipped since the previous chunk because they exceeded `max_line_bytes`.
    pub lines_too_long: u64,
}

/// The settings every connection of a listener shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionSettings {
    pub protocol: Protocol,
    pub max_line_bytes: usize,
    pub idle_timeout: Duration,
}

/// Accepts connections until shutdown, each served on its own task while it holds one of the
/// `connection_slots`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    settings: ConnectionSettings,
    chunks: mpsc::Sender<LineChunk>,
    connection_slots: Arc<Semaphore>,
    metrics: Arc<SelfMetrics>,
    shutdown: CancellationToken,
) {
    let mut last_refusal_logged: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(slot) = connection_slots.clone().try_acquire_owned() else {
                    drop(stream);
                    metrics.increment(Counter::TcpConnectionsRefused);
                    // A flood of connections must not flood the log: one line a second.
                    if last_refusal_logged
                        .is_none_or(|last| last.elapsed() >= Duration::from_secs(1))
                    {
                        last_refusal_logged = Some(Instant::now());
                        warn!(
                            %peer,
                            refused_total = metrics.counter(Counter::TcpConnectionsRefused),
                            "max_tcp_connections reached, connection closed"
                        );
                    }
                    continue;
                };
                let connection =
                    serve_connection(stream, peer, settings, chunks.clone(), shutdown.clone());
                tokio::spawn(async move {
                    connection.await;
                    drop(slot);
                });
            }
            Err(error) => {
                // Typically out of file descriptors; pausing keeps the loop from spinning.
                warn!(%error, protocol = ?settings.protocol, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    settings: ConnectionSettings,
    chunks: mpsc::Sender<LineChunk>,
    shutdown: CancellationToken,
) {
    debug!(%peer, protocol = ?settings.protocol, "tcp connection opened");
    let mut framer = LineFramer::new(settings.max_line_bytes);
    let mut read_buffer = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            _ = shutdown.cancelled() => {
                take_received_bytes(stream, &mut framer, &mut read_buffer);
                break;
            }
            read = tokio::time::timeout(settings.idle_timeout, stream.read(&mut read_buffer)) => read,
        };
        let length = match read {
            Err(_elapsed) => {
                debug!(%peer, timeout = ?settings.idle_timeout, "idle tcp connection closed");
                break;
            }
            Ok(Err(error)) => {
                debug!(%peer, %error, "tcp read failed, connection closed");
                break;
            }
            Ok(Ok(0)) => {
                // The client closed its side: a last line without newline is still a line.
                framer.finish();
                break;
            }
            Ok(Ok(length)) => length,
        };
        framer.push(&read_buffer[..length]);
        if !send(&chunks, &mut framer, settings.protocol).await {
            return;
        }
    }
    send(&chunks, &mut framer, settings.protocol).await;
    debug!(%peer, "tcp connection closed");
}

/// At shutdown: bytes the client sent before it belong to the final flush, so take what the
/// kernel already holds, without waiting for more. Through the std socket, because tokio's
/// `try_read` answers "would block" from its cached readiness without asking the kernel when
/// the reactor has not seen the data arrive yet.
fn take_received_bytes(stream: TcpStream, framer: &mut LineFramer, read_buffer: &mut [u8]) {
    use std::io::Read as _;
    let Ok(mut stream) = stream.into_std() else {
        return;
    };
    loop {
        match stream.read(read_buffer) {
            Ok(0) => {
                framer.finish();
                return;
            }
            Ok(length) => framer.push(&read_buffer[..length]),
            // WouldBlock: nothing more has arrived; any other error ends the connection too.
            Err(_) => return,
        }
    }
}

/// Sends what the framer has; `false` once the receive loop is gone.
async fn send(
    chunks: &mpsc::Sender<LineChunk>,
    framer: &mut LineFramer,
    protocol: Protocol,
) -> bool {
    let Some((lines, lines_too_long)) = framer.take() else {
        return true;
    };
    let chunk = LineChunk {
        protocol,
        lines,
        lines_too_long,
    };
    chunks.send(chunk).await.is_ok()
}

/// Reassembles lines split across reads and skips lines longer than the limit. Pure: bytes in,
/// whole lines out.
#[derive(Debug)]
pub(crate) struct LineFramer {
    max_line_bytes: usize,
    /// The start of a line whose newline has not arrived yet.
    partial: Vec<u8>,
    /// The current line already exceeded the limit: drop bytes up to the next newline.
    discarding: bool,
    complete: Vec<u8>,
    lines_too_long: u64,
}

impl LineFramer {
    pub(crate) fn new(max_line_bytes: usize) -> Self {
        Self {
            max_line_bytes,
            partial: Vec::new(),
            discarding: false,
            complete: Vec::new(),
            lines_too_long: 0,
        }
    }

    /// Adds bytes read from the stream.
    pub(crate) fn push(&mut self, mut data: &[u8]) {
        while let Some(newline) = data.iter().position(|byte| *byte == b'\n') {
            let (line_end, rest) = data.split_at(newline);
            data = &rest[1..];
            if std::mem::take(&mut self.discarding) {
                continue;
            }
            if self.partial.len() + line_end.len() > self.max_line_bytes {
                self.partial.clear();
                self.lines_too_long += 1;
                continue;
            }
            self.complete.extend_from_slice(&self.partial);
            self.complete.extend_from_slice(line_end);
            self.complete.push(b'\n');
            self.partial.clear();
        }
        if self.discarding {
            return;
        }
        if self.partial.len() + data.len() > self.max_line_bytes {
            // Counted now, while the rest of it may still be arriving, so a client that never
            // sends the newline is reported too; its remaining bytes are skipped.
            self.partial.clear();
            self.discarding = true;
            self.lines_too_long += 1;
            return;
        }
        self.partial.extend_from_slice(data);
    }

    /// The stream ended: a last line without newline counts as a line.
    pub(crate) fn finish(&mut self) {
        if !self.discarding && !self.partial.is_empty() {
            self.complete.append(&mut self.partial);
            self.complete.push(b'\n');
        }
        self.discarding = false;
    }

    /// The whole lines and the count of lines too long since the last call, if any.
    pub(crate) fn take(&mut self) -> Option<(Bytes, u64)> {
        if self.complete.is_empty() && self.lines_too_long == 0 {
            return None;
        }
        Some((
            Bytes::from(std::mem::take(&mut self.complete)),
            std::mem::take(&mut self.lines_too_long),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(max_line_bytes: usize, reads: &[&str], finish: bool) -> (String, u64) {
        let mut framer = LineFramer::new(max_line_bytes);
        let mut lines = String::new();
        let mut too_long = 0;
        for read in reads {
            framer.push(read.as_bytes());
            if let Some((chunk, skipped)) = framer.take() {
                lines.push_str(std::str::from_utf8(&chunk).unwrap());
                too_long += skipped;
            }
        }
        if finish {
            framer.finish();
            if let Some((chunk, skipped)) = framer.take() {
                lines.push_str(std::str::from_utf8(&chunk).unwrap());
                too_long += skipped;
            }
        }
        (lines, too_long)
    }

    #[test]
    fn lines_split_across_reads_are_reassembled() {
        assert_eq!(
            frame(100, &["a:1|c\nb:", "2|", "c\nc:3", "|c\n"], false),
            ("a:1|c\nb:2|c\nc:3|c\n".into(), 0)
        );
    }

    #[test]
    fn a_last_line_without_newline_counts_when_the_stream_ends() {
        assert_eq!(frame(100, &["a:1|c\nb:2|c"], false), ("a:1|c\n".into(), 0));
        assert_eq!(
            frame(100, &["a:1|c\nb:2|c"], true),
            ("a:1|c\nb:2|c\n".into(), 0)
        );
    }

    #[test]
    fn a_line_too_long_is_skipped_and_counted_without_losing_its_neighbours() {
        // Within one read.
        assert_eq!(
            frame(5, &["a:1|c\nlong:1|c\nb:2|c\n"], false),
            ("a:1|c\nb:2|c\n".into(), 1)
        );
        // Spread over reads, longer than the limit before its newline arrives.
        assert_eq!(
            frame(5, &["a:1|c\nlong:", "1111111", "111|c\nb:2|c\n"], false),
            ("a:1|c\nb:2|c\n".into(), 1)
        );
        // Crossing the limit exactly when the newline arrives.
        assert_eq!(
            frame(5, &["abc", "def\nb:2|c\n"], false),
            ("b:2|c\n".into(), 1)
        );
        // A client that never sends the newline.
        assert_eq!(frame(5, &["xxxxxxxx"], true), ("".into(), 1));
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_kept() {
        assert_eq!(frame(5, &["a:1|c\n"], false), ("a:1|c\n".into(), 0));
        assert_eq!(frame(5, &["a:1", "|c\n"], false), ("a:1|c\n".into(), 0));
    }
}

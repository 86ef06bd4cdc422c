//! The statsd UDP sockets and how datagrams are read from them.
//!
//! * Several sockets share one address with `SO_REUSEPORT` (on the Unixes that have it), one
//!   per receive worker; the kernel spreads senders over them by their address, so every
//!   worker gets its own queue and one sender's datagrams stay in order on one socket.
//! * Each socket asks for a large receive buffer (`SO_RCVBUF`), so a burst or a flush does not
//!   overflow the kernel queue. The kernel caps the request at `net.core.rmem_max`; running
//!   with `CAP_NET_ADMIN`, Linux's `SO_RCVBUFFORCE` lifts the cap. What was granted is logged.
//! * On Linux, [`DatagramReceiver`] reads up to [`DATAGRAMS_PER_CALL`] datagrams per system
//!   call with `recvmmsg(2)`; elsewhere one per call with `recv_from`.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tracing::{info, warn};

/// Datagrams one `recvmmsg` call may return: enough to amortize the system call at millions
/// of lines per second, few enough that a batch is handled in well under a millisecond.
pub const DATAGRAMS_PER_CALL: usize = 64;

/// How long a receive worker waits for a datagram before it looks at the stop flag again.
pub(crate) const RECEIVE_TIMEOUT: Duration = Duration::from_millis(100);

/// Binds `count` UDP sockets on `address` (the later ones on the port the first was given, so
/// port 0 works), each with `SO_REUSEPORT` and a receive buffer of `receive_buffer_bytes`.
pub fn bind_statsd_sockets(
    address: SocketAddr,
    count: usize,
    receive_buffer_bytes: usize,
) -> io::Result<Vec<UdpSocket>> {
    let mut sockets = Vec::with_capacity(count);
    let mut bound_address = address;
    for _ in 0..count.max(1) {
        let socket = Socket::new(
            Domain::for_address(bound_address),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if count > 1 {
            set_reuse_port(&socket)?;
        }
        set_receive_buffer(&socket, receive_buffer_bytes);
        socket.bind(&bound_address.into())?;
        let socket = UdpSocket::from(socket);
        bound_address = socket.local_addr()?;
        sockets.push(socket);
    }
    if let Some(first) = sockets.first() {
        info!(
            address = %bound_address,
            sockets = sockets.len(),
            requested_receive_buffer_bytes = receive_buffer_bytes,
            granted_receive_buffer_bytes = granted_receive_buffer(first),
            "statsd udp sockets bound"
        );
    }
    Ok(sockets)
}

#[cfg(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
))]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
)))]
fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "several statsd udp sockets need SO_REUSEPORT, which this system lacks; \
         set aggregator.receive_workers = 1",
    ))
}

/// Asks for `bytes` of receive buffer. Too small a grant is not an error (the socket works,
/// it only drops sooner under bursts): it is logged at start-up.
fn set_receive_buffer(socket: &Socket, bytes: usize) {
    if let Err(error) = socket.set_recv_buffer_size(bytes) {
        warn!(%error, bytes, "cannot set the udp receive buffer size");
    }
    #[cfg(target_os = "linux")]
    force_receive_buffer(socket, bytes);
}

/// Linux halves what `getsockopt(SO_RCVBUF)` reports back into what was asked for (it doubles
/// the request for its own bookkeeping).
fn granted_receive_buffer(socket: &UdpSocket) -> usize {
    let reported = socket2::SockRef::from(socket)
        .recv_buffer_size()
        .unwrap_or(0);
    if cfg!(target_os = "linux") {
        reported / 2
    } else {
        reported
    }
}

/// When `net.core.rmem_max` capped the request, `SO_RCVBUFFORCE` sets it anyway if the process
/// has `CAP_NET_ADMIN`; without it the call fails and the capped size stays.
#[cfg(target_os = "linux")]
fn force_receive_buffer(socket: &Socket, bytes: usize) {
    use std::os::fd::AsRawFd;
    let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
    if granted >= bytes {
        return;
    }
    let Ok(requested) = libc::c_int::try_from(bytes) else {
        return;
    };
    // SAFETY: a plain setsockopt on a socket this function borrows, with a pointer to a live
    // c_int and its exact size.
    let _ = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&requested as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Reads datagrams from a blocking socket in batches, into buffers it owns and reuses.
pub(crate) struct DatagramReceiver {
    /// `DATAGRAMS_PER_CALL` buffers of `max_datagram_bytes`, back to back.
    buffer: Vec<u8>,
    max_datagram_bytes: usize,
    /// The length of each datagram of the last batch, and whether the datagram was longer
    /// than `max_datagram_bytes` and cut to it.
    lengths: Vec<(usize, bool)>,
}

impl DatagramReceiver {
    pub(crate) fn new(max_datagram_bytes: usize) -> Self {
        let max_datagram_bytes = max_datagram_bytes.max(1);
        Self {
            buffer: vec![0; max_datagram_bytes * DATAGRAMS_PER_CALL],
            max_datagram_bytes,
            lengths: Vec::with_capacity(DATAGRAMS_PER_CALL),
        }
    }

    /// Waits for at least one datagram (as long as the socket's read timeout allows, or not at
    /// all on a non-blocking socket) and returns every datagram that is there by then, up to
    /// [`DATAGRAMS_PER_CALL`], each with whether it was cut to `max_datagram_bytes`.
    /// `WouldBlock` / `TimedOut` when none came.
    pub(crate) fn receive(
        &mut self,
        socket: &UdpSocket,
    ) -> io::Result<impl Iterator<Item = (&[u8], bool)>> {
        self.lengths.clear();
        self.receive_batch(socket)?;
        let buffer = &self.buffer;
        let max_datagram_bytes = self.max_datagram_bytes;
        Ok(self
            .lengths
            .iter()
            .enumerate()
            .map(move |(index, (length, truncated))| {
                let start = index * max_datagram_bytes;
                (&buffer[start..start + length], *truncated)
            }))
    }

    #[cfg(target_os = "linux")]
    fn receive_batch(&mut self, socket: &UdpSocket) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let max_datagram_bytes = self.max_datagram_bytes;
        let base = self.buffer.as_mut_ptr();
        // Each iovec is its own disjoint `max_datagram_bytes` slice of `self.buffer`.
        let mut iovecs: [libc::iovec; DATAGRAMS_PER_CALL] =
            std::array::from_fn(|index| libc::iovec {
                // SAFETY: index * max_datagram_bytes < buffer.len() (the buffer holds
                // DATAGRAMS_PER_CALL of them), so the offset stays inside the allocation.
                iov_base: unsafe { base.add(index * max_datagram_bytes) }.cast(),
                iov_len: max_datagram_bytes,
            });
        // SAFETY: mmsghdr is a plain C struct for which all zeroes means "no address, no
        // control data"; each one's iovec pointer is set right below.
        let mut headers: [libc::mmsghdr; DATAGRAMS_PER_CALL] = unsafe { std::mem::zeroed() };
        for (header, iovec) in headers.iter_mut().zip(iovecs.iter_mut()) {
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `headers` holds DATAGRAMS_PER_CALL initialized headers whose iovecs point into
        // `self.buffer`; the kernel writes at most iov_len bytes into each and sets msg_len.
        // MSG_WAITFORONE: block (up to the socket's timeout) for the first datagram only, then
        // take what else is queued without waiting.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                DATAGRAMS_PER_CALL as libc::c_uint,
                libc::MSG_WAITFORONE as _,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        // A datagram longer than the buffer is cut to it, and the kernel says so with MSG_TRUNC.
        self.lengths
            .extend(headers[..received as usize].iter().map(|header| {
                (
                    (header.msg_len as usize).min(self.max_datagram_bytes),
                    header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                )
            }));
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn receive_batch(&mut self, socket: &UdpSocket) -> io::Result<()> {
        // One byte more than allowed (the buffer holds several datagrams' room): a datagram
        // that fills it was longer and has been cut.
        let (length, _peer) = socket.recv_from(&mut self.buffer[..self.max_datagram_bytes + 1])?;
        self.lengths.push((
            length.min(self.max_datagram_bytes),
            length > self.max_datagram_bytes,
        ));
        Ok(())
    }
}

/// Whether a receive error only means that no datagram came in time.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_returns_every_queued_datagram_in_order_and_cuts_long_ones() {
        let sockets = bind_statsd_sockets("127.0.0.1:0".parse().unwrap(), 1, 1 << 20).unwrap();
        let receiver_socket = &sockets[0];
        receiver_socket
            .set_read_timeout(Some(RECEIVE_TIMEOUT))
            .unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for datagram in [&b"a:1|c"[..], b"b:2|c", b"long:123456789|c"] {
            sender
                .send_to(datagram, receiver_socket.local_addr().unwrap())
                .unwrap();
        }
        let mut receiver = DatagramReceiver::new(8);
        let mut received = Vec::new();
        while received.len() < 3 {
            let batch = receiver.receive(receiver_socket).unwrap();
            received.extend(batch.map(|(datagram, truncated)| (datagram.to_vec(), truncated)));
        }
        assert_eq!(
            received,
            vec![
                (b"a:1|c".to_vec(), false),
                (b"b:2|c".to_vec(), false),
                (b"long:123".to_vec(), true)
            ]
        );
        let nothing = receiver.receive(receiver_socket).err().unwrap();
        assert!(is_timeout(&nothing), "{nothing}");
    }

    #[test]
    fn several_sockets_share_one_port() {
        let sockets = bind_statsd_sockets("127.0.0.1:0".parse().unwrap(), 3, 1 << 20).unwrap();
        let port = sockets[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        for socket in &sockets {
            assert_eq!(socket.local_addr().unwrap().port(), port);
        }
    }
}

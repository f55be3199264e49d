//! Limits on connections, so no caller can hold the server's sockets (stalled connections once
//! took the server to its file limit and `/healthz` stopped answering).
//!
//! Headers and bodies have deadlines of their own (the header-read timeout, `request_body`).
//! What is left is a caller that never reads its responses, which stalls the server's writes
//! while no read deadline runs, and a caller that opens connections faster than the deadlines
//! close them. So: a write that makes no progress for the stall timeout ends the connection; one
//! address (an IPv6 /64) holds at most so many connections at once, trusted proxies excepted;
//! and the whole server at most what its file limit leaves room for, beyond which it stops
//! accepting until a connection ends (new ones wait in the kernel's backlog).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use gatehouse_domain::throttle::network_of;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// File descriptors kept back from connections: the database pool, log files, the listener.
const RESERVED_DESCRIPTORS: usize = 64;

/// Open connections per address (an IPv6 /64).
type OpenPerAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// How many connections are open, in all and per address.
pub struct ConnectionLimits {
    total: Arc<Semaphore>,
    per_address: usize,
    open: OpenPerAddress,
}

/// A connection's places in the limits, given back when it ends.
pub struct ConnectionSlot {
    _total: OwnedSemaphorePermit,
    address: Option<(IpAddr, OpenPerAddress)>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some((address, open)) = &self.address {
            let mut open = open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(count) = open.get_mut(address) {
                *count -= 1;
                if *count == 0 {
                    open.remove(address);
                }
            }
        }
    }
}

impl ConnectionLimits {
    /// `total` connections in all (`None`: what the process's file limit leaves room for), and
    /// `per_address` from any one address.
    pub fn new(total: Option<usize>, per_address: usize) -> Self {
        let total = total.unwrap_or_else(|| open_files_limit().saturating_sub(RESERVED_DESCRIPTORS).max(64));
        Self { total: Arc::new(Semaphore::new(total)), per_address, open: Arc::default() }
    }

    /// Waits for a place in the total, so the server never runs out of descriptors.
    pub async fn wait_for_room(&self) -> Option<OwnedSemaphorePermit> {
        self.total.clone().acquire_owned().await.ok()
    }

    /// A place for a connection from `peer`, or `None` if that address holds its share already.
    /// `exempt` peers (trusted proxies, which carry many callers) are counted only in the total.
    pub fn admit(&self, total: OwnedSemaphorePermit, peer: IpAddr, exempt: bool) -> Option<ConnectionSlot> {
        if exempt {
            return Some(ConnectionSlot { _total: total, address: None });
        }
        let address = network_of(peer);
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot { _total: total, address: Some((address, self.open.clone())) })
    }
}

/// The soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (no `unsafe` for `getrlimit`); 1024,
/// the usual default, where it cannot be read.
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(1024)
}

/// A stream whose writes must make progress: one that stays blocked for `limit` (the peer reads
/// nothing and its window is full) fails with `TimedOut`, and hyper closes the connection.
pub struct StallGuard<S> {
    inner: S,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> StallGuard<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Self { inner, limit, stalled: None }
    }

    /// What a write or flush of the inner stream returned, judged: progress disarms the timer;
    /// `Pending` arms it, and fails once the stall has lasted `limit`.
    fn judge<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let timer = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.judge(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.judge(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.judge(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_address_holds_its_share_and_gives_it_back() {
        let limits = ConnectionLimits::new(Some(10), 2);
        let caller: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::ffff".parse().unwrap();
        let first = limits.admit(limits.wait_for_room().await.unwrap(), caller, false).unwrap();
        let _second = limits.admit(limits.wait_for_room().await.unwrap(), same_64, false).unwrap();
        assert!(limits.admit(limits.wait_for_room().await.unwrap(), caller, false).is_none());
        // A trusted proxy carries many callers: only the total counts it.
        assert!(limits.admit(limits.wait_for_room().await.unwrap(), caller, true).is_some());
        drop(first);
        assert!(limits.admit(limits.wait_for_room().await.unwrap(), caller, false).is_some());
        assert!(open_files_limit() >= 64);
    }
}

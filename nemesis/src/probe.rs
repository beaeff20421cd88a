//! Small probes every lab uses: is a port open, what does a GET answer, is a process there and in which
//! state, the end of a node's log; and the free ports a loopback lab listens on.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

/// Whether a TCP connection to `addr` opens within `limit`.
pub(crate) async fn tcp_ready(addr: SocketAddr, limit: Duration) -> bool {
    tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await.is_ok_and(|r| r.is_ok())
}

/// The status of a GET of `url` (`http://HOST:PORT/PATH`), within `limit`.
pub async fn http_status(url: &str, limit: Duration) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs can be probed"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') {
            let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        line.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP answer: {:?}", line.lines().next().unwrap_or("")))
    };
    tokio::time::timeout(limit, attempt).await.map_err(|_| format!("no answer within {limit:?}"))?
}

/// Sends a minimal HTTP request to `addr` and times the first byte of the answer; `None` if none came
/// within `limit`. Every HTTP server answers it, with some status.
pub async fn http_round_trip(addr: SocketAddr, limit: Duration) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(b"GET /faultline-probe HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n").await.ok()?;
        let mut byte = [0u8; 1];
        (stream.read(&mut byte).await.ok()? == 1).then(|| started.elapsed())
    };
    tokio::time::timeout(limit, attempt).await.ok().flatten()
}

/// The state letter of a process in /proc (R, S, T for stopped, ...), after the signal had a moment.
/// The process's state letter once `settled` holds for it, or as it is after a second. A signal takes
/// effect when its target is next scheduled: on a loaded machine a busy process can still be running
/// (`R`) tens of milliseconds after its SIGSTOP.
pub(crate) async fn process_state(pid: i32, settled: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).map(str::to_string))
            .unwrap_or_else(|| "gone".into());
        if settled(&state) || state == "gone" || Instant::now() >= deadline {
            return state;
        }
    }
}

/// Whether a process with this pid exists.
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The last lines of a node's log, for an error message.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return format!("its log {} is empty", log.display());
    }
    let tail: Vec<&str> = lines[lines.len().saturating_sub(3)..].iter().map(|l| l.trim()).collect();
    let mut tail = tail.join(" | ");
    let chars = tail.chars().count();
    if chars > 600 {
        tail = format!("...{}", tail.chars().skip(chars - 600).collect::<String>());
    }
    format!("the end of its log ({}): {tail}", log.display())
}

/// A loopback port nothing listens on now, for a node to listen on: below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`) when there is room. A port of that range is what the kernel hands out
/// for every outgoing connection and every bind to port 0, so one released there is soon taken again by a
/// client's connection or another program's listener, and the node that was to listen on it cannot: that
/// was the cause of runs that tested a stranger's server. Below the range only a program that asks for the
/// port by number takes it; each process starts at its own place in the stretch (from its id and the
/// clock) and goes on from there, so two runs side by side do not pick the same ports.
pub fn free_loopback_port() -> Result<u16, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let (low, high) = below_ephemeral();
    let span = u32::from(high - low);
    if span >= 1024 {
        if NEXT.load(Ordering::Relaxed) == u32::MAX {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let start = (std::process::id().wrapping_mul(2_654_435_761) ^ nanos) % span;
            let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
        }
        for _ in 0..256 {
            let port = low + (NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
            if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(port);
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// The ports from 10,000 up to the kernel's ephemeral range (32,768 when it cannot be read).
fn below_ephemeral() -> (u16, u16) {
    let first_ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32_768);
    (10_000, first_ephemeral.max(10_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_come_from_below_the_ephemeral_range_and_skip_taken_ones() {
        let (low, high) = below_ephemeral();
        let first = free_loopback_port().unwrap();
        if high - low < 1024 {
            eprintln!("the ephemeral range starts at {high}: no room below it, so ports come from the kernel");
            return;
        }
        assert!((low..high).contains(&first), "{first} is not in {low}..{high}");
        // The next pick is the next port, unless something listens there: hold it, and the pick passes it.
        let held = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, first + 1));
        let second = free_loopback_port().unwrap();
        assert_ne!(second, first);
        if held.is_ok() && first + 2 < high {
            assert_eq!(second, first + 2, "the held port {} was picked", first + 1);
        }
        assert!(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, second)).is_ok());
    }
}

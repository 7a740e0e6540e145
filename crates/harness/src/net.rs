//! Ports and a minimal blocking HTTP/1.1 client on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::{Proc, Result};

/// A TCP port on 127.0.0.1 that was free a moment ago, for a server about
/// to be started on it.
///
/// Not an ephemeral port (`bind(":0")`): the kernel hands those out again, to
/// the next `bind(":0")` and to every outgoing connection (an admin's push,
/// workerd's own loopback sockets), so a server started a second later could
/// find its port taken (CI saw `Address already in use` from wrangler). The
/// port comes instead from below the kernel's ephemeral range, which nothing
/// is given without asking for it, starting at a point that differs per
/// process, and a process never hands out the same port twice.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let (low, high) = fixed_port_range();
    let span = u32::from(high - low);
    let start = *START.get_or_init(|| process_seed() % span);
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = low + u16::try_from(offset).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Ports `[low, high)` outside the kernel's ephemeral range (Linux's
/// `ip_local_port_range`, 32768–60999 by default; elsewhere that default).
fn fixed_port_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<u16>().ok()))
        .unwrap_or(32768);
    if ephemeral_low > 12_000 {
        (10_000, ephemeral_low)
    } else {
        // An unusual kernel setting: use the ports above the range.
        (61_000, 65_000)
    }
}

/// Differs between processes (and runs), so that two test processes
/// started together begin their search in different places.
fn process_seed() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::process::id().wrapping_mul(2_654_435_761) ^ nanos
}

/// Fails when something already listens on 127.0.0.1:`port` (it would
/// answer the readiness checks in place of the server about to start).
pub fn ensure_free(port: u16) -> Result<()> {
    TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|e| format!("127.0.0.1:{port} is already in use ({e}); stop what listens there first").into())
}

/// One HTTP/1.1 request (`Connection: close`, `Content-Length` always sent)
/// to `addr`: the status and the body (de-chunked when chunked).
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        use std::fmt::Write as _;
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_answer(&raw).ok_or_else(|| format!("{method} {addr}{path}: not an HTTP answer").into())
}

fn parse_answer(raw: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.")?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        })
    });
    Some((status, if chunked { dechunk(body) } else { body.to_owned() }))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = size.split(';').next().unwrap_or_default().trim();
        let Ok(n) = usize::from_str_radix(size, 16) else { break };
        if n == 0 || rest.len() < n || !rest.is_char_boundary(n) {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// Polls `GET path` on `addr` until `ready(status, body)`; fails (with the
/// log's tail) when `proc` exits first or after `timeout`. The time it took.
pub fn wait_ready(
    proc: &mut Proc,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    ready: impl Fn(u16, &str) -> bool,
) -> Result<Duration> {
    let t0 = Instant::now();
    loop {
        if let Ok((status, body)) = http(addr, "GET", path, &[], "") {
            if ready(status, &body) {
                return Ok(t0.elapsed());
            }
        }
        if proc.exited() {
            let log = proc.log().display();
            return Err(format!("{} exited while starting ({log}):\n{}", proc.name(), proc.log_tail()).into());
        }
        if t0.elapsed() > timeout {
            let log = proc.log().display();
            return Err(format!("{} not ready after {timeout:?} ({log}):\n{}", proc.name(), proc.log_tail()).into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `addr` refuses connections (or `timeout`).
pub fn wait_refused(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        if Instant::now() >= deadline {
            return Err(format!("{addr} still accepts connections after {timeout:?}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;

    use super::*;

    /// A server answering each connection with the next of `answers`; it
    /// returns the requests it read (head and body).
    fn serve(answers: Vec<&'static str>) -> (SocketAddr, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = std::io::BufReader::new(stream);
                let mut request = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    request.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                request.push_str(&String::from_utf8(body).unwrap());
                reader.get_mut().write_all(answer.as_bytes()).unwrap();
                requests.push(request);
            }
            requests
        });
        (addr, handle)
    }

    #[test]
    fn http_sends_the_request_and_reads_plain_and_chunked_answers() {
        let (addr, server) = serve(vec![
            "HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
        ]);
        let answer = http(addr, "POST", "/api/x", &[("authorization", "Bearer t")], "{\"n\":2}").unwrap();
        assert_eq!(answer, (201, "{\"a\":1}".to_owned()));
        assert_eq!(http(addr, "GET", "/healthz", &[], "").unwrap(), (200, "Wikipedia".to_owned()));
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("POST /api/x HTTP/1.1\r\n"), "{}", requests[0]);
        assert!(requests[0].contains("authorization: Bearer t\r\n"), "{}", requests[0]);
        assert!(requests[0].ends_with("\r\n\r\n{\"n\":2}"), "{}", requests[0]);
        assert!(requests[1].starts_with("GET /healthz HTTP/1.1\r\n"), "{}", requests[1]);
    }

    #[test]
    fn http_refuses_what_is_not_http() {
        let (addr, server) = serve(vec!["SSH-2.0-OpenSSH\r\n\r\n"]);
        assert!(http(addr, "GET", "/", &[], "").is_err());
        server.join().unwrap();
        assert!(http(addr, "GET", "/", &[], "").is_err(), "nothing listens any more");
    }

    #[test]
    fn free_ports_are_never_ephemeral_and_never_repeat() {
        let (low, high) = fixed_port_range();
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        let unique: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(unique.len(), ports.len(), "a port was handed out twice: {ports:?}");
        assert!(ports.iter().all(|p| (low..high).contains(p)), "{ports:?} not in {low}..{high}");
        let ephemeral = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert!(!(low..high).contains(&ephemeral), "the range {low}..{high} overlaps the kernel's ({ephemeral})");
    }

    #[test]
    fn ports_free_and_in_use() {
        let port = free_port().unwrap();
        ensure_free(port).unwrap();
        let held = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let err = ensure_free(port).unwrap_err();
        assert!(err.to_string().contains("already in use"), "{err}");
        let addr = held.local_addr().unwrap();
        assert!(wait_refused(addr, Duration::from_millis(300)).is_err());
        drop(held);
        wait_refused(addr, Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn wait_ready_takes_the_callers_predicate() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("300");
        let mut proc =
            Proc::spawn("sleep", &mut cmd, crate::Signal::Term, Duration::from_secs(5), &dir.path().join("log"))
                .unwrap();
        let (addr, server) = serve(vec![
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 16\r\n\r\n{\"stale\":false} ",
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 15\r\n\r\n{\"stale\":true} ",
        ]);
        wait_ready(&mut proc, addr, "/healthz", Duration::from_secs(10), |status, body| {
            status == 200 || body.contains("\"stale\":true")
        })
        .unwrap();
        assert_eq!(server.join().unwrap().len(), 2, "ready on the second answer");
        // Nothing listens now: a timeout, with the process's name.
        let err = wait_ready(&mut proc, addr, "/", Duration::from_millis(300), |_, _| true).unwrap_err();
        assert!(err.to_string().contains("sleep not ready"), "{err}");
        proc.stop();
        let err = wait_ready(&mut proc, addr, "/", Duration::from_secs(10), |_, _| true).unwrap_err();
        assert!(err.to_string().contains("sleep exited"), "{err}");
    }
}

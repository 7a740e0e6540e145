//! A load generator for a running `embedgate serve` on the loopback interface
//! (issue 3's benchmarks; `cargo xtask bench-admin` drives it).
//!
//! ```text
//! cargo run --release -p embedgate-admin --example loadgen -- create \
//!     --url http://127.0.0.1:8080 --org acme --token egt_… --owner admin@acme.test \
//!     --clients 16 --count 10000
//! cargo run --release -p embedgate-admin --example loadgen -- list \
//!     --url http://127.0.0.1:8080 --org acme --token egt_… --iterations 20
//! ```
//!
//! A minimal HTTP/1.1 client over `tokio::net::TcpStream` with keep-alive, one
//! connection per simulated client; it refuses any host that is not loopback,
//! and stops after `--count` requests or `--max-seconds`, whichever is first.
//! The last line printed is `RESULT {json}` for scripts.
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "Load generator for the embedgate admin server (loopback only)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Create `--count` credentials from `--clients` concurrent keep-alive connections.
    Create(CreateArgs),
    /// Read the org's whole credential list `--iterations` times in pages of `--limit`.
    List(ListArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// Server base URL; the host must be a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The org slug.
    #[arg(long)]
    org: String,
    /// An admin's member API token.
    #[arg(long, env = "EMBEDGATE_TOKEN", hide_env_values = true)]
    token: String,
    /// Stop starting new requests after this many seconds.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
}

#[derive(Debug, Args)]
struct CreateArgs {
    #[command(flatten)]
    common: Common,
    /// The credentials' owner (a member of the org).
    #[arg(long)]
    owner: String,
    /// Concurrent clients (connections).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Credentials to create in total (at most 1,000,000).
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Name prefix; names are PREFIX-N (default: lg-<unix time>).
    #[arg(long)]
    prefix: Option<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    common: Common,
    /// How many times to read the whole list (at most 10,000).
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Page size (`?limit=`).
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Parses `http://HOST:PORT` and insists on a loopback address.
fn loopback_addr(url: &str) -> Result<SocketAddr, Error> {
    let rest = url.strip_prefix("http://").ok_or("the URL must start with http://")?;
    let hostport = rest.trim_end_matches('/');
    let addr: SocketAddr = match hostport.strip_prefix("localhost:") {
        Some(port) => SocketAddr::from(([127, 0, 0, 1], port.parse::<u16>()?)),
        None => hostport.parse().map_err(|_| format!("not HOST:PORT with a numeric host: {hostport}"))?,
    };
    if !addr.ip().is_loopback() {
        return Err(format!("refusing a non-loopback address: {addr}").into());
    }
    Ok(addr)
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
    token: String,
}

impl Conn {
    async fn open(addr: SocketAddr, token: &str) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream: BufReader::new(stream), host: addr.to_string(), token: token.to_owned() })
    }

    /// Sends one request and reads the answer (Content-Length bodies only, as axum's JSON).
    async fn request(&mut self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, Vec<u8>), Error> {
        let length = body.map(|b| format!("content-type: application/json\r\ncontent-length: {}\r\n", b.len()));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\naccept: application/json\r\n{}\r\n",
            self.host,
            self.token,
            length.unwrap_or_default()
        );
        let mut out = head.into_bytes();
        out.extend_from_slice(body.unwrap_or_default().as_bytes());
        self.stream.get_mut().write_all(&out).await?;

        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err("connection closed".into());
        }
        let status: u16 = line.split_whitespace().nth(1).ok_or("no status line")?.parse()?;
        let mut length = None;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err("connection closed in the headers".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.trim().parse::<usize>()?);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err("chunked answers are not supported".into());
                }
            }
        }
        let mut buf = vec![0; length.ok_or("no content-length")?];
        self.stream.read_exact(&mut buf).await?;
        Ok((status, buf))
    }
}

/// Latency summary in milliseconds.
fn summary(mut micros: Vec<u64>) -> Value {
    micros.sort_unstable();
    let pick = |q: f64| -> f64 {
        if micros.is_empty() {
            return 0.0;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
        micros[i] as f64 / 1000.0
    };
    json!({
        "n": micros.len(),
        "p50_ms": pick(0.50),
        "p90_ms": pick(0.90),
        "p99_ms": pick(0.99),
        "max_ms": micros.last().map_or(0.0, |m| *m as f64 / 1000.0),
    })
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

async fn create(args: CreateArgs) -> Result<Value, Error> {
    let addr = loopback_addr(&args.common.url)?;
    if args.clients == 0 || args.clients > 256 || args.count > 1_000_000 {
        return Err("--clients must be 1..=256 and --count at most 1,000,000".into());
    }
    let prefix = args.prefix.clone().unwrap_or_else(|| {
        format!(
            "lg-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
        )
    });
    let path = format!("/api/v1/orgs/{}/credentials", args.common.org);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.common.max_seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let mut conn = Conn::open(addr, &args.common.token).await?;
        let (next, path, prefix, owner, count) =
            (next.clone(), path.clone(), prefix.clone(), args.owner.clone(), args.count);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() >= deadline {
                    break;
                }
                let body =
                    json!({ "name": format!("{prefix}-{i}"), "owner": owner, "privileges": ["embedding"] }).to_string();
                let t = Instant::now();
                let (status, answer) = conn.request("POST", &path, Some(&body)).await?;
                lat.push(micros(t.elapsed()));
                if status != 201 {
                    failures += 1;
                    if failures <= 3 {
                        eprintln!("loadgen: create {i}: HTTP {status}: {}", String::from_utf8_lossy(&answer));
                    }
                }
            }
            Ok::<_, Error>((lat, failures))
        }));
    }
    let mut all = Vec::with_capacity(args.count);
    let mut failures = 0;
    for task in tasks {
        let (lat, f) = task.await??;
        all.extend(lat);
        failures += f;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let done = all.len();
    let rate = done as f64 / elapsed;
    let lat = summary(all);
    println!(
        "create: {done} requests ({failures} failed) from {} clients in {elapsed:.2} s: {rate:.0} creates/s",
        args.clients
    );
    println!("latency ms: p50 {} p90 {} p99 {} max {}", lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"]);
    Ok(json!({
        "mode": "create", "clients": args.clients, "requests": done, "failures": failures,
        "seconds": elapsed, "per_second": rate, "latency": lat,
    }))
}

async fn list(args: ListArgs) -> Result<Value, Error> {
    let addr = loopback_addr(&args.common.url)?;
    if args.iterations == 0 || args.iterations > 10_000 || !(1..=1000).contains(&args.limit) {
        return Err("--iterations must be 1..=10,000 and --limit 1..=1000".into());
    }
    let base = format!("/api/v1/orgs/{}/credentials?limit={}", args.common.org, args.limit);
    let deadline = Instant::now() + Duration::from_secs(args.common.max_seconds);
    let mut conn = Conn::open(addr, &args.common.token).await?;
    let (mut whole, mut pages, mut total) = (Vec::new(), Vec::new(), 0usize);
    for _ in 0..args.iterations {
        if Instant::now() >= deadline {
            break;
        }
        let t_all = Instant::now();
        let mut after: Option<String> = None;
        let mut n = 0usize;
        loop {
            let path = match &after {
                Some(a) => format!("{base}&after={a}"),
                None => base.clone(),
            };
            let t = Instant::now();
            let (status, body) = conn.request("GET", &path, None).await?;
            let page: Value = serde_json::from_slice(&body)?;
            pages.push(micros(t.elapsed()));
            if status != 200 {
                return Err(format!("list: HTTP {status}: {page}").into());
            }
            n += page["credentials"].as_array().map_or(0, Vec::len);
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
        whole.push(micros(t_all.elapsed()));
        total = n;
    }
    let (whole, pages) = (summary(whole), summary(pages));
    println!("list: {total} credentials, {} full reads, pages of {}", whole["n"], args.limit);
    println!("whole list ms: p50 {} p99 {} max {}", whole["p50_ms"], whole["p99_ms"], whole["max_ms"]);
    println!("one page ms:   p50 {} p99 {} max {}", pages["p50_ms"], pages["p99_ms"], pages["max_ms"]);
    Ok(json!({ "mode": "list", "credentials": total, "limit": args.limit, "whole": whole, "page": pages }))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.mode {
            Mode::Create(args) => create(args).await,
            Mode::List(args) => list(args).await,
        }
    });
    match result {
        Ok(value) => {
            println!("RESULT {value}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

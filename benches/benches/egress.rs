//! What the egress gateway costs a box's connections: the added latency of
//! one connection (connect, one byte each way, close) and the throughput of
//! a 100 MB download, each against the same client run as a plain process
//! over loopback, measured in the same run; and what egress adds to a
//! strict box's spawn and reap.
//!
//! `cargo bench -p rsandbox-benches --bench egress`. Every server is local:
//! a TCP server on this process's loopback and a DNS responder for the one
//! name the box may reach (`resolve_with`). The client is this binary
//! again (`RSANDBOX_EGRESS_CLIENT=1`), driven one request per line on its
//! stdin, so both sides pay the same pipe round trip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::time::Duration;

use criterion::{Criterion, Throughput};
use rsandbox::egress::EgressPolicy;

/// Bytes of one download.
const DOWNLOAD: usize = 100 << 20;
const NAME: &str = "bench.test";
const CLIENT: &str = "RSANDBOX_EGRESS_CLIENT";

/// The client: for each line `ping` or `get`, one connection to the
/// address given in argv[1] (a name is resolved once, at start).
fn client() {
    let target = std::env::args().nth(1).expect("target host:port");
    let addr: SocketAddr = target
        .to_socket_addrs()
        .expect("resolve the target")
        .next()
        .expect("an address");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let mut buf = vec![0u8; 1 << 20];
    for line in stdin.lock().lines() {
        let line = line.expect("read a request");
        let mut s = TcpStream::connect(addr).expect("connect");
        let _ = s.set_nodelay(true);
        let n = match line.as_str() {
            "ping" => {
                s.write_all(b"p").unwrap();
                s.read(&mut buf[..1]).unwrap()
            }
            _ => {
                s.write_all(b"g").unwrap();
                let mut total = 0;
                loop {
                    match s.read(&mut buf).unwrap() {
                        0 => break total,
                        n => total += n,
                    }
                }
            }
        };
        writeln!(out, "{n}").unwrap();
        out.flush().unwrap();
    }
}

/// The server: `p` gets one byte back, `g` gets [`DOWNLOAD`] bytes.
fn server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let chunk = vec![7u8; 1 << 20];
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut op = [0u8; 1];
                if s.read_exact(&mut op).is_err() {
                    return;
                }
                if op[0] == b'p' {
                    let _ = s.write_all(b"p");
                    return;
                }
                for _ in 0..DOWNLOAD / chunk.len() {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A DNS responder that answers every A query with 127.0.0.1 and every
/// other one with no records (raw DNS: the header flags and one answer
/// pointing back at the question's name).
fn resolver() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut q = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut q) {
            if n < 17 {
                continue;
            }
            let mut i = 12;
            while i < n && q[i] != 0 {
                i += 1 + q[i] as usize;
            }
            let qend = i + 5;
            if qend > n {
                continue;
            }
            let is_a = q[i + 1] == 0 && q[i + 2] == 1;
            let mut r = q[..qend].to_vec();
            r[2] = 0x81;
            r[3] = 0x80;
            r[6..12].copy_from_slice(&[0, is_a as u8, 0, 0, 0, 0]);
            if is_a {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 1]);
            }
            let _ = s.send_to(&r, peer);
        }
    });
    addr
}

/// A running client: its stdin and stdout, and what keeps it alive.
struct Client {
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    _keep: Box<dyn std::any::Any>,
}

impl Client {
    fn request(&mut self, what: &str) -> usize {
        writeln!(self.input, "{what}").unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        line.trim().parse().expect("a byte count")
    }
}

fn plain_client(port: u16) -> Client {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(format!("127.0.0.1:{port}"))
        .env(CLIENT, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    Client {
        input: c.stdin.take().unwrap(),
        output: BufReader::new(c.stdout.take().unwrap()),
        _keep: Box::new(KillOnDrop(c)),
    }
}

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn boxed_client(port: u16, dns: SocketAddr) -> Client {
    let sb = rsandbox::Sandbox::strict()
        .env(CLIENT, "1")
        .stdin(rsandbox::Stdio::Pipe)
        .stdout(rsandbox::Stdio::Pipe)
        .egress(
            EgressPolicy::new()
                .allow_domain(format!("{NAME}:{port}"))
                .resolve_with(dns)
                .proxy_env(false),
        );
    let exe = std::env::current_exe().unwrap();
    let mut c = sb
        .spawn(&rsandbox::Command::new(exe).arg(format!("{NAME}:{port}")))
        .expect("spawn the boxed client");
    Client {
        input: ChildStdin::from(std::os::fd::OwnedFd::from(c.stdin.take().unwrap())),
        output: BufReader::new(ChildStdout::from(std::os::fd::OwnedFd::from(
            c.stdout.take().unwrap(),
        ))),
        _keep: Box::new(c),
    }
}

fn benches(c: &mut Criterion) {
    let port = server();
    let dns = resolver();
    let mut plain = plain_client(port);
    let mut boxed = boxed_client(port, dns);
    // One of each first: a failure here says what is wrong.
    assert_eq!(
        boxed.request("ping"),
        1,
        "the boxed client's first connection"
    );
    assert_eq!(plain.request("ping"), 1);

    let mut g = c.benchmark_group("egress connection");
    g.bench_function("loopback, no box", |b| b.iter(|| plain.request("ping")));
    g.bench_function("through the gateway", |b| b.iter(|| boxed.request("ping")));
    g.finish();

    // What a box with egress costs to spawn and reap (the gateway's
    // sockets, its filter, its resolv.conf and its threads).
    let t = rsandbox::Command::new("/bin/true");
    let strict = rsandbox::Sandbox::strict();
    let with = strict.clone().egress(
        EgressPolicy::new()
            .allow_domain(format!("{NAME}:{port}"))
            .resolve_with(dns),
    );
    assert!(with.status(&t).unwrap().success());
    let mut g = c.benchmark_group("egress spawn");
    g.bench_function("strict", |b| b.iter(|| strict.status(&t).unwrap()));
    g.bench_function("strict + egress", |b| b.iter(|| with.status(&t).unwrap()));
    g.finish();

    let mut g = c.benchmark_group("egress download 100 MB");
    g.throughput(Throughput::Bytes(DOWNLOAD as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    g.bench_function("loopback, no box", |b| {
        b.iter(|| assert_eq!(plain.request("get"), DOWNLOAD))
    });
    g.bench_function("through the gateway", |b| {
        b.iter(|| assert_eq!(boxed.request("get"), DOWNLOAD))
    });
    g.finish();
}

fn main() {
    if std::env::var_os(CLIENT).is_some() {
        return client();
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}

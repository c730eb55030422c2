//! A small S3 server over a folder (s3s-fs), with credentials enforced: the
//! stand-in for MinIO in the end-to-end rig (`scripts/e2e/run.sh`).
//!
//! Each subfolder of `--root` is a bucket, each file below it an object. Only
//! requests signed with the given access key and secret are served; anything
//! else gets S3's own `InvalidAccessKeyId`/`SignatureDoesNotMatch` errors.
//!
//! ```text
//! cargo run --example s3_server -- --root /tmp/s3 --port 9000 \
//!     --access-key feeder --secret-key feeder-secret
//! ```
//!
//! Every option can also come from the environment: `S3_ROOT`, `S3_ADDR`
//! (or `S3_PORT`), `S3_ACCESS_KEY`, `S3_SECRET_KEY`. The address defaults to
//! 127.0.0.1 (`--addr 127.0.0.1:9000` or `--port 9000`). It prints one line,
//! `listening on http://ADDR`, once it accepts connections, and stops on
//! SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

struct Args {
    root: PathBuf,
    addr: SocketAddr,
    access_key: String,
    secret_key: String,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "s3_server: {problem}\nusage: s3_server --root DIR [--port N | --addr HOST:PORT] --access-key KEY --secret-key SECRET\n(or S3_ROOT, S3_PORT/S3_ADDR, S3_ACCESS_KEY, S3_SECRET_KEY)"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut root = env("S3_ROOT");
    let mut addr = env("S3_ADDR");
    let mut port = env("S3_PORT");
    let mut access_key = env("S3_ACCESS_KEY");
    let mut secret_key = env("S3_SECRET_KEY");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        if name == "--help" || name == "-h" {
            usage("help");
        }
        let value = inline.or_else(|| args.next()).unwrap_or_else(|| usage(&format!("{name} needs a value")));
        match name.as_str() {
            "--root" => root = Some(value),
            "--addr" => addr = Some(value),
            "--port" => port = Some(value),
            "--access-key" => access_key = Some(value),
            "--secret-key" => secret_key = Some(value),
            other => usage(&format!("unknown option {other}")),
        }
    }
    let addr = match (addr, port) {
        (Some(a), _) => a.parse().unwrap_or_else(|_| usage(&format!("--addr {a:?} is not HOST:PORT"))),
        (None, Some(p)) => {
            let p: u16 = p.parse().unwrap_or_else(|_| usage(&format!("--port {p:?} is not a port")));
            SocketAddr::from(([127, 0, 0, 1], p))
        }
        (None, None) => usage("--port or --addr is required"),
    };
    Args {
        root: PathBuf::from(root.unwrap_or_else(|| usage("--root is required"))),
        addr,
        access_key: access_key.unwrap_or_else(|| usage("--access-key is required")),
        secret_key: secret_key.unwrap_or_else(|| usage("--secret-key is required")),
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.root).unwrap_or_else(|e| {
        eprintln!("s3_server: cannot create {}: {e}", args.root.display());
        std::process::exit(1);
    });
    let fs = s3s_fs::FileSystem::new(&args.root).unwrap_or_else(|e| {
        eprintln!("s3_server: cannot serve {}: {e:?}", args.root.display());
        std::process::exit(1);
    });
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(args.access_key, args.secret_key));
    let service = builder.build();

    let listener = tokio::net::TcpListener::bind(args.addr).await.unwrap_or_else(|e| {
        eprintln!("s3_server: cannot listen on {}: {e}", args.addr);
        std::process::exit(1);
    });
    println!("listening on http://{}", listener.local_addr().unwrap());

    let http = ConnBuilder::new(TokioExecutor::new());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    loop {
        let (socket, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => continue,
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

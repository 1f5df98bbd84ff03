//! `google-emulator --port N --seed FILE`: a local Google on one port until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use google_emulator::Seed;

/// A local Google (OAuth/OpenID Connect, Classroom v1, Drive v3) for development and tests.
#[derive(Debug, Parser)]
#[command(name = "google-emulator", version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 9090)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Seed file (JSON) describing domains, people, courses and shared drives.
    #[arg(long)]
    seed: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let seed: Seed = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read seed file {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("seed file {} is not valid", path.display()))?
        }
        None => Seed::default(),
    };
    let running = google_emulator::start_on(&seed, SocketAddr::new(args.host, args.port)).await?;
    println!("Google emulator listening on {}", running.url());
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}

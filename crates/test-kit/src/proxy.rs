//! A TCP proxy that can play a restart of whatever stands behind it: PostgreSQL, Redis or
//! Google. The service under test is pointed at the proxy; [`TcpProxy::cut`] closes every
//! connection through it and stops listening (new connections are refused, as by a server that
//! is down), and [`TcpProxy::restore`] listens again on the same port. The real server, which
//! other tests share, is never touched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Which of the app's servers it reaches through a proxy (the rest directly).
#[derive(Default, Clone, Copy)]
pub struct Through<'a> {
    pub database: Option<&'a TcpProxy>,
    pub redis: Option<&'a TcpProxy>,
    pub google: Option<&'a TcpProxy>,
}

impl Through<'_> {
    /// The database, Redis and Google base URLs the app is configured with.
    pub fn urls(&self, db: &crate::TestDb, google_base: &str) -> (String, String, String) {
        let via = |proxy: Option<&TcpProxy>, url: &str| match proxy {
            Some(p) => p.url(url),
            None => url.to_owned(),
        };
        (
            via(self.database, &db.url),
            via(self.redis, &crate::redis_url()),
            via(self.google, google_base),
        )
    }
}

/// A proxy from a free local port to `upstream`.
pub struct TcpProxy {
    address: SocketAddr,
    upstream: SocketAddr,
    /// Bumped by every cut: each connection closes when it changes.
    generation: watch::Sender<u64>,
    /// Connections being relayed now.
    open: Arc<AtomicUsize>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts relaying to the server at `upstream` ("host:port").
    pub async fn start(upstream: &str) -> Self {
        let upstream = tokio::net::lookup_host(upstream)
            .await
            .unwrap()
            .next()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (generation, _) = watch::channel(0);
        let mut proxy = Self {
            address: listener.local_addr().unwrap(),
            upstream,
            generation,
            open: Arc::default(),
            listener: None,
        };
        proxy.listen(listener);
        proxy
    }

    /// A proxy to the server `url` names (its host and port, or `default_port`).
    pub async fn for_url(url: &str, default_port: u16) -> Self {
        let parsed = url::Url::parse(url).unwrap();
        let host = parsed.host_str().unwrap();
        Self::start(&format!("{host}:{}", parsed.port().unwrap_or(default_port))).await
    }

    /// `url` with its host and port replaced by the proxy's: the same server, reached through
    /// the proxy.
    pub fn url(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).unwrap();
        parsed.set_host(Some("127.0.0.1")).unwrap();
        parsed.set_port(Some(self.address.port())).unwrap();
        parsed.to_string()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Connections relayed at this moment.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// The server "goes down": every connection is closed and new ones are refused.
    pub async fn cut(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
            let _ = listener.await;
        }
        self.generation.send_modify(|g| *g += 1);
        for _ in 0..100 {
            if self.open_connections() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The server "is back": the proxy listens on the same port again.
    pub async fn restore(&mut self) {
        if self.listener.is_some() {
            return;
        }
        // The port was ours a moment ago; a lingering socket may hold it for a little while.
        for _ in 0..200 {
            if let Ok(listener) = TcpListener::bind(self.address).await {
                self.listen(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("could not listen on {} again", self.address);
    }

    fn listen(&mut self, listener: TcpListener) {
        let (upstream, generation, open) = (
            self.upstream,
            self.generation.subscribe(),
            self.open.clone(),
        );
        self.listener = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut cut = generation.clone();
                let open = open.clone();
                tokio::spawn(async move {
                    open.fetch_add(1, Ordering::SeqCst);
                    relay(client, upstream, &mut cut).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }));
    }
}

/// Relays one connection until either side closes or the proxy is cut.
async fn relay(mut client: TcpStream, upstream: SocketAddr, cut: &mut watch::Receiver<u64>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.changed() => {}
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
        self.generation.send_modify(|g| *g += 1);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn relays_then_cuts_and_refuses_then_relays_again() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_address = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mut proxy = TcpProxy::start(&echo_address.to_string()).await;
        let mut conn = TcpStream::connect(proxy.address()).await.unwrap();
        conn.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");

        proxy.cut().await;
        let mut rest = Vec::new();
        let closed = conn.read_to_end(&mut rest).await;
        assert!(closed.is_err() || rest.is_empty(), "the connection was cut");
        assert!(
            TcpStream::connect(proxy.address()).await.is_err(),
            "refused"
        );

        proxy.restore().await;
        let mut again = TcpStream::connect(proxy.address()).await.unwrap();
        again.write_all(b"back").await.unwrap();
        let mut buf = [0u8; 4];
        again.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"back");
    }
}

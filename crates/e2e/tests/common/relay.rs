//! A TCP relay in front of the simulator whose port can refuse
//! connections or let them hang at connect, then open again: faults the
//! simulator cannot make itself, since they happen before any request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Relay {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// While connects hang: a listener whose accept queue is full.
    blackhole: Option<(socket2::Socket, std::net::TcpStream)>,
    relaying: bool,
}

impl Relay {
    /// Relays a free loopback port to `target` (`host:port`).
    pub async fn start(target: &str) -> Relay {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let mut r = Relay {
            port,
            target: target.to_string(),
            tasks: Default::default(),
            blackhole: None,
            relaying: false,
        };
        r.open().await;
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes the port and every relayed connection: connects are refused.
    pub async fn refuse(&mut self) {
        self.close();
        // Let the host's pool see its connections end.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Connects hang (SYNs dropped): a listener with a backlog of 0 whose
    /// one queue slot is taken and which never accepts.
    pub async fn hang(&mut self) {
        self.close();
        tokio::time::sleep(Duration::from_millis(50)).await;
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        s.bind(&addr.into()).unwrap();
        s.listen(0).unwrap();
        let filler = std::net::TcpStream::connect(addr).unwrap();
        self.blackhole = Some((s, filler));
    }

    /// Relays again (a no-op while relaying: the host's pooled
    /// connections stay up).
    pub async fn open(&mut self) {
        if self.relaying {
            return;
        }
        self.close();
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
        self.relaying = true;
    }

    fn close(&mut self) {
        self.relaying = false;
        self.blackhole = None;
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.close();
    }
}

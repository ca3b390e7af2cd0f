//! What a failed connect was, from the error's types rather than its text:
//! a name the resolver could not resolve (marked by [`MarkingResolver`]),
//! a TLS failure (`rustls::Error`, a certificate or the protocol), or the
//! socket's `io::ErrorKind` (refused, timed out).

use std::error::Error;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::{GaiAddrs, GaiResolver, Name};
use wasmtime_wasi_http::Error as HttpError;

/// A host name that did not resolve: the resolver's error, marked so the
/// connect error can be told from a refused or failed connection.
#[derive(Debug)]
pub struct DnsFailure(io::Error);

impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the host name did not resolve: {}", self.0)
    }
}

impl Error for DnsFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

/// The system resolver (getaddrinfo on a blocking thread, as hyper-util
/// does), its failures marked as [`DnsFailure`].
#[derive(Clone)]
pub struct MarkingResolver(GaiResolver);

impl Default for MarkingResolver {
    fn default() -> Self {
        MarkingResolver(GaiResolver::new())
    }
}

impl tower_service::Service<Name> for MarkingResolver {
    type Response = GaiAddrs;
    type Error = DnsFailure;
    type Future = Pin<Box<dyn Future<Output = Result<GaiAddrs, DnsFailure>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), DnsFailure>> {
        self.0.poll_ready(cx).map_err(DnsFailure)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let lookup = self.0.call(name);
        Box::pin(async move { lookup.await.map_err(DnsFailure) })
    }
}

/// The wasi:http error code of a failed connect, from the first error in its
/// chain whose type says what failed.
pub fn classify(e: &(dyn Error + Send + Sync + 'static)) -> HttpError {
    let mut next: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(code) = of_one(err) {
            return code;
        }
        // `io::Error::source` skips the error it wraps (hyper-rustls wraps
        // tokio-rustls's io::Error, which wraps the rustls::Error): step
        // into the wrapped error itself.
        next = match err.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
            None => err.source(),
        };
    }
    HttpError::ConnectionRefused
}

fn of_one(err: &(dyn Error + 'static)) -> Option<HttpError> {
    if err.is::<DnsFailure>() {
        return Some(HttpError::DnsError {
            rcode: Some("lookup failed".into()),
            info_code: None,
        });
    }
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(match tls {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                HttpError::TlsCertificateError
            }
            _ => HttpError::TlsProtocolError,
        });
    }
    match err.downcast_ref::<io::Error>()?.kind() {
        io::ErrorKind::TimedOut => Some(HttpError::ConnectionTimeout),
        io::ErrorKind::ConnectionRefused => Some(HttpError::ConnectionRefused),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            Some(HttpError::DestinationUnavailable)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_decide_not_texts() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "tls handshake dns");
        assert!(matches!(classify(&refused), HttpError::ConnectionRefused));
        let dns = DnsFailure(io::Error::other("timed out"));
        assert!(matches!(classify(&dns), HttpError::DnsError { .. }));
        let cert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(classify(&cert), HttpError::TlsCertificateError));
        // As hyper-rustls hands it over: tokio-rustls's error in another.
        let wrapped = io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert!(matches!(classify(&wrapped), HttpError::TlsCertificateError));
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert!(matches!(classify(&alert), HttpError::TlsProtocolError));
        let timeout = io::Error::new(io::ErrorKind::TimedOut, "x");
        assert!(matches!(classify(&timeout), HttpError::ConnectionTimeout));
    }
}

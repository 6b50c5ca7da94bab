//! Posts over HTTP(S) with hyper and rustls (the TLS stack the AWS SDK uses too).

use super::{PostError, Secret, Transport};
use async_trait::async_trait;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A [`Transport`] over HTTP(S). Errors never include the URL.
pub struct HttpTransport {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpTransport {
    /// A client with the system's root certificates; `Err` when there are none.
    pub fn new() -> Result<Self, PostError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| PostError(format!("no TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpTransport {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }
}

/// Checks that `url` is an http(s) URL with a host, without saying it (it may be a secret).
pub fn check_url(what: &str, url: &Secret) -> Result<(), super::NotifyError> {
    let bad = || super::NotifyError::Url {
        what: what.to_string(),
    };
    let uri: hyper::Uri = url.expose().parse().map_err(|_| bad())?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.host().is_some() => Ok(()),
        _ => Err(bad()),
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn post(&self, url: &Secret, body: &str) -> Result<(), PostError> {
        let uri: hyper::Uri = url
            .expose()
            .parse()
            .map_err(|_| PostError("not a URL".into()))?;
        let request = hyper::Request::post(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| PostError(e.to_string()))?;
        match self.client.request(request).await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(PostError(format!("HTTP {}", resp.status()))),
            // hyper's connect errors can carry the address; say only what kind of failure it was.
            Err(e) if e.is_connect() => Err(PostError("could not connect".into())),
            Err(_) => Err(PostError("the request failed".into())),
        }
    }
}

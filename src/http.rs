//! The HTTP client every AWS call goes through.
//!
//! The SDK's default client loads the system's trusted roots (parsing every
//! PEM file it finds) while the first AWS client is being built, before any
//! request; measured here with callgrind, that was four fifths of all the
//! work secretexec did for one secret over plain HTTP. This client keeps two
//! connectors, one per scheme, and builds the TLS one (roots included) only
//! when a request actually uses `https`. Both come from the SDK's own
//! connector builder, so timeouts and pooling behave as in every AWS SDK,
//! and both honour `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` (and
//! their lower-case forms) as the aws CLI does, through the SDK's
//! `ProxyConfig::from_env`. TLS uses rustls with ring (see the README for
//! why ring).

use std::error::Error as StdError;
use std::sync::{Arc, OnceLock};

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use rustls::pki_types::CertificateDer;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Calls in flight at once per TLS endpoint (see [`Lanes`]). A new TLS
/// connection costs a handshake (about 2.9 M instructions: key exchange,
/// three RSA signature checks), a call on a kept-alive one about 0.9 M; AWS
/// keeps connections alive, so with 20 sources 4 connections carry 5 calls
/// each instead of 20 handshakes (BENCHMARKS.md). Plain HTTP connections
/// cost no handshake and are not bounded.
pub const TLS_LANES: usize = 4;

/// Where TLS trust comes from.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The system's roots, as rustls-native-certs finds them
    /// (`SSL_CERT_FILE`/`SSL_CERT_DIR` when set).
    System,
    /// A PEM bundle that replaces the system's roots (`AWS_CA_BUNDLE` or a
    /// profile's `ca_bundle`, named by `origin`). Read and checked on the
    /// first `https` request, like the system's roots: a run that never
    /// uses TLS never parses it.
    Bundle { origin: String, path: String },
}

impl Trust {
    /// Where the trusted roots came from, for a certificate error.
    pub fn describe(&self) -> String {
        match self {
            Trust::Bundle { origin, path } => {
                format!("the roots trusted are those of {origin}={path}")
            }
            Trust::System => {
                let whose = match (std::env::var_os("SSL_CERT_FILE"), SYSTEM.get()) {
                    (Some(file), _) => format!("those of SSL_CERT_FILE={}", file.to_string_lossy()),
                    (None, Some(System::File(path, _))) => {
                        format!("the system's ({})", path.display())
                    }
                    (None, _) => "the system's".into(),
                };
                format!(
                    "the roots trusted are {whose}; set AWS_CA_BUNDLE to a PEM bundle holding \
                     your CA"
                )
            }
        }
    }
}

pub fn client(trust: Trust) -> SharedHttpClient {
    let bundle = Arc::new(Bundle {
        trust,
        pem: OnceLock::new(),
    });
    let roots = Arc::clone(&bundle);
    SharedHttpClient::new(BySchemeClient {
        plain: Builder::new().build_with_connector_fn(|settings, components| {
            connector(settings, components).build_http()
        }),
        bundle,
        lanes: Arc::default(),
        tls: Builder::new().build_with_connector_fn(move |settings, components| {
            // Only called once the bundle was read and checked (LazyTls).
            let store = match roots.pem() {
                None => match system() {
                    System::File(_, pem) => TrustStore::empty().with_pem_certificate(pem.clone()),
                    System::Native => TrustStore::default(),
                },
                Some(Ok(pem)) => TrustStore::empty().with_pem_certificate(pem.to_vec()),
                Some(Err(_)) => TrustStore::empty(),
            };
            // Building a context cannot fail today; if it ever did, trust
            // nothing rather than fall back to other roots.
            let context = TlsContext::builder()
                .with_trust_store(store)
                .build()
                .unwrap_or_else(|_| {
                    TlsContext::builder()
                        .with_trust_store(TrustStore::empty())
                        .build()
                        .unwrap_or_default()
                });
            connector(settings, components)
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .tls_context(context)
                .build()
        }),
    })
}

/// A connector builder with the SDK's settings and, when any proxy variable
/// is set, the environment's proxy configuration (without one, the plain
/// path stays as short as before).
fn connector(
    settings: Option<&HttpConnectorSettings>,
    components: Option<&RuntimeComponents>,
) -> ConnectorBuilder {
    let mut builder = Connector::builder();
    builder.set_connector_settings(settings.cloned());
    if let Some(components) = components {
        builder.set_sleep_impl(components.sleep_impl());
    }
    let proxied = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    if proxied {
        builder = builder.proxy_config(ProxyConfig::from_env());
    }
    builder
}

/// The certificates of a PEM bundle that rustls can use as trust anchors,
/// as a canonical PEM bundle, and how many there are.
///
/// Decoding PEM is most of the work of trusting a system's roots: the TLS
/// provider's decoder is constant-time (it is also used for private keys),
/// about 22 instructions a byte, and the system bundle is 220 kB. This
/// decodes once with a fast decoder (base64-simd, the SDK's own), checks
/// every certificate as the provider will (so its `expect` can never abort
/// us), and writes the usable ones back in the one form every PEM reader
/// accepts; the provider then decodes that once. `strict` (a bundle the user named) refuses the
/// file for any block that is not a usable certificate; otherwise (the
/// system's bundle) such blocks are skipped, as rustls-native-certs does.
pub fn usable_pem(pem: &[u8], strict: bool) -> Result<(Vec<u8>, usize), String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    // The searches and line splits are memchr-based, base64-simd decodes
    // and encodes: this runs over the whole system bundle on every
    // start that uses TLS.
    // Text outside the blocks (comments) need not be UTF-8.
    let text = String::from_utf8_lossy(pem);
    let mut rest = &*text;
    let mut out = Vec::with_capacity(pem.len());
    let mut roots = rustls::RootCertStore::empty();
    let mut seen = 0;
    let mut b64 = Vec::with_capacity(4096);
    while let Some(start) = rest.find(BEGIN) {
        rest = &rest[start + BEGIN.len()..];
        let Some(end) = rest.find(END) else {
            if strict {
                return Err("is not a valid PEM file".into());
            }
            break;
        };
        seen += 1;
        b64.clear();
        for line in rest[..end].lines() {
            b64.extend_from_slice(line.trim_ascii().as_bytes());
        }
        let der = base64_simd::STANDARD.decode_to_vec(&b64).ok();
        rest = &rest[end + END.len()..];
        let der = der.filter(|der| roots.add(CertificateDer::from(der.as_slice())).is_ok());
        match der {
            Some(der) => {
                out.extend_from_slice(BEGIN.as_bytes());
                for line in base64_simd::STANDARD
                    .encode_to_string(&der)
                    .as_bytes()
                    .chunks(64)
                {
                    out.push(b'\n');
                    out.extend_from_slice(line);
                }
                out.push(b'\n');
                out.extend_from_slice(END.as_bytes());
                out.push(b'\n');
            }
            None if strict => {
                return Err(format!(
                    "holds a certificate (#{seen}) that cannot be parsed"
                ));
            }
            None => {}
        }
    }
    if roots.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok((out, roots.len()))
}

/// Where the system's roots come from, decided on the first `https`
/// request of the process.
#[derive(Debug)]
enum System {
    /// A bundle file and its usable certificates (canonical PEM):
    /// `SSL_CERT_FILE` when set, else the bundle OpenSSL's probe finds
    /// (/etc/ssl/certs/ca-certificates.crt on Debian and Ubuntu,
    /// /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem on Red Hat, ...).
    File(std::path::PathBuf, Vec<u8>),
    /// rustls-native-certs: `SSL_CERT_DIR` is set, there is no bundle file
    /// or it holds no usable certificate (the directories may).
    Native,
}

static SYSTEM: OnceLock<System> = OnceLock::new();

fn system() -> &'static System {
    SYSTEM.get_or_init(|| {
        let set = |var| std::env::var_os(var).filter(|v| !v.is_empty());
        if set("SSL_CERT_DIR").is_some() {
            return System::Native;
        }
        let file = match set("SSL_CERT_FILE") {
            Some(file) => Some(file.into()),
            None => openssl_probe::probe().cert_file,
        };
        file.and_then(|path| {
            let pem = std::fs::read(&path).ok()?;
            let (pem, _) = usable_pem(&pem, false).ok()?;
            Some(System::File(path, pem))
        })
        .unwrap_or(System::Native)
    })
}

/// A request URI's scheme, host and port: `https://host:port`.
pub fn endpoint_of(uri: &str) -> String {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    let end = uri[after_scheme..]
        .find('/')
        .map_or(uri.len(), |i| after_scheme + i);
    uri[..end].to_string()
}

/// Whether a connection failed because the server's certificate was not
/// trusted (or invalid): retrying cannot help, and the message should say
/// where the trusted roots came from.
pub fn certificate_error(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(rustls::Error::InvalidCertificate(_)) = e.downcast_ref::<rustls::Error>() {
            return true;
        }
        // io::Error's `source()` skips the error it wraps; look inside.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && certificate_error(inner)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Forbids retrying a certificate failure: eight handshakes against the
/// same certificate cannot succeed, and the user waits for nothing.
#[derive(Debug)]
pub struct NoRetryOnCertificateError;

impl ClassifyRetry for NoRetryOnCertificateError {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e)) if e.as_connector_error().is_some_and(|c| certificate_error(c)) => {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "secretexec::NoRetryOnCertificateError"
    }
}

/// The trust of a client and, for a bundle, its PEM once read and checked
/// (or why it cannot be used).
#[derive(Debug)]
struct Bundle {
    trust: Trust,
    pem: OnceLock<Result<Vec<u8>, String>>,
}

impl Bundle {
    /// `None` for the system's roots.
    fn pem(&self) -> Option<Result<&[u8], &str>> {
        let Trust::Bundle { origin, path } = &self.trust else {
            return None;
        };
        let loaded = self.pem.get_or_init(|| {
            let fail = |why: String| format!("{origin} names {}, {why}", crate::error::quote(path));
            let pem =
                std::fs::read(path).map_err(|e| fail(format!("which cannot be read: {e}")))?;
            let (pem, _) = usable_pem(&pem, true).map_err(|why| fail(format!("which {why}")))?;
            Ok(pem)
        });
        Some(loaded.as_deref().map_err(String::as_str))
    }
}

#[derive(Debug)]
struct BySchemeClient {
    plain: SharedHttpClient,
    tls: SharedHttpClient,
    bundle: Arc<Bundle>,
    lanes: Arc<Lanes>,
}

impl HttpClient for BySchemeClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BySchemeConnector {
            plain: self.plain.http_connector(settings, components),
            tls: Arc::new(LazyTls {
                bundle: Arc::clone(&self.bundle),
                client: self.tls.clone(),
                settings: settings.clone(),
                components: components.clone(),
                connector: OnceLock::new(),
                lanes: Arc::clone(&self.lanes),
            }),
        })
    }
}

#[derive(Debug)]
struct BySchemeConnector {
    plain: SharedHttpConnector,
    tls: Arc<LazyTls>,
}

#[derive(Debug)]
struct LazyTls {
    bundle: Arc<Bundle>,
    client: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
    connector: OnceLock<SharedHttpConnector>,
    lanes: Arc<Lanes>,
}

/// One [`TLS_LANES`] semaphore per endpoint (scheme, host and port) for
/// the whole run: the SDK asks for a connector per operation, and every
/// client of one endpoint shares its connection pool.
#[derive(Debug, Default)]
struct Lanes(std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>);

impl Lanes {
    fn of(&self, uri: &str) -> Arc<Semaphore> {
        let endpoint = endpoint_of(uri);
        let mut lanes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            lanes
                .entry(endpoint)
                .or_insert_with(|| Arc::new(Semaphore::new(TLS_LANES))),
        )
    }
}

impl HttpConnector for BySchemeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.uri().starts_with("https:") {
            let tls = &self.tls;
            // A CA bundle that cannot be used fails every TLS request with
            // one line naming it, before any connection and without a
            // retry (a user error); never the TLS provider's panic.
            if let Some(Err(why)) = tls.bundle.pem() {
                return HttpConnectorFuture::ready(Err(ConnectorError::user(
                    why.to_string().into(),
                )));
            }
            let connector = tls
                .connector
                .get_or_init(|| tls.client.http_connector(&tls.settings, &tls.components))
                .clone();
            let lanes = tls.lanes.of(request.uri());
            // The lane is held until the answer's body is dropped, when its
            // connection is back in the pool for the next call to reuse.
            HttpConnectorFuture::new(async move {
                let lane = lanes
                    .acquire_owned()
                    .await
                    .map_err(|e| ConnectorError::other(Box::new(e), None))?;
                let mut response = connector.call(request).await?;
                let body = response.take_body();
                *response.body_mut() = SdkBody::from_body_1_x(Held { body, _lane: lane });
                Ok(response)
            })
        } else {
            self.plain.call(request)
        }
    }
}

/// An answer's body holding its TLS lane (see [`TLS_LANES`]).
struct Held {
    body: SdkBody,
    _lane: OwnedSemaphorePermit,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::usable_pem;

    #[test]
    fn bad_bundles_are_refused_not_panicked_on() {
        let check = |pem: &[u8]| usable_pem(pem, true).map(|(_, n)| n);
        assert_eq!(check(b""), Err("holds no PEM certificate".into()));
        assert_eq!(
            check(b"just some text\n"),
            Err("holds no PEM certificate".into())
        );
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(check(garbage).unwrap_err().contains("#1"));
        let broken = b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n";
        assert!(check(broken).is_err());
        let open = b"-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(check(open).is_err());
        // The system's bundle: unusable blocks are skipped, not fatal.
        assert_eq!(
            usable_pem(garbage, false).map(|(_, n)| n),
            Err("holds no PEM certificate".into())
        );
    }
}

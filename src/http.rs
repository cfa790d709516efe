//! The HTTP client every AWS call goes through.
//!
//! The SDK's default client loads the system's trusted roots (parsing every
//! PEM file it finds) while the first AWS client is being built, before any
//! request; measured here with callgrind, that was four fifths of all the
//! work secretexec did for one secret over plain HTTP. This client keeps two
//! connectors, one per scheme, and builds the TLS one (roots included) only
//! when a request actually uses `https`. Both come from the SDK's own
//! builders, so timeouts, pooling and proxies behave as in every AWS SDK.
//! TLS uses rustls with ring (see the README for why ring).

use std::sync::{Arc, OnceLock};

use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(BySchemeClient {
        plain: aws_smithy_http_client::Builder::new().build_http(),
        tls: aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https(),
    })
}

#[derive(Debug)]
struct BySchemeClient {
    plain: SharedHttpClient,
    tls: SharedHttpClient,
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
                client: self.tls.clone(),
                settings: settings.clone(),
                components: components.clone(),
                connector: OnceLock::new(),
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
    client: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
    connector: OnceLock<SharedHttpConnector>,
}

impl HttpConnector for BySchemeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.uri().starts_with("https:") {
            let tls = &self.tls;
            tls.connector
                .get_or_init(|| tls.client.http_connector(&tls.settings, &tls.components))
                .call(request)
        } else {
            self.plain.call(request)
        }
    }
}

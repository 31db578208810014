//! Shared SDK configuration, built once per cold start.
//!
//! # Trust store of the AWS clients
//!
//! The SDK clients of the functions trust exactly the roots AWS service endpoints chain to,
//! bundled in `certs/aws-roots.pem` (Amazon Root CA 1 to 4 and Starfield Services Root
//! Certificate Authority - G2), not the system trust store: the system store is ~150 roots
//! read from files at every cold start, about half of a function's init, to verify endpoints
//! that only ever present these five. Deployments whose AWS endpoints chain to another root
//! (a TLS-inspecting egress firewall, an `AWS_ENDPOINT_URL` served with a private CA) name a
//! PEM file in `AWS_EXTRA_CA_FILE`; its certificates are trusted as well (docs/deploy.md,
//! "TLS trust store of the AWS clients"). A file that cannot be read or holds no valid certificate
//! stops the cold start with an error naming the file and the problem.
//!
//! The platform client (`gateway-platforms`, WeChat and Weibo APIs) keeps a broad public store
//! (Mozilla's roots, compiled in): those hosts chain to public CAs that are not AWS roots.
//!
//! `gatewayctl`, an operator tool run from workstations (where a corporate proxy's CA is
//! installed system-wide), uses [`load_sdk_config_with_system_roots`].

use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The roots AWS service endpoints chain to, with a header naming each and its SHA-256
/// fingerprint.
pub const AWS_ROOTS_PEM: &str = include_str!("../certs/aws-roots.pem");

/// Environment variable naming a PEM file of further roots for the AWS clients.
pub const EXTRA_CA_FILE_VAR: &str = "AWS_EXTRA_CA_FILE";

/// Why the AWS clients' trust store could not be built. `Debug` prints the message too, so an
/// error returned from `main` reads the same in the function's log.
#[derive(thiserror::Error)]
pub enum TrustStoreError {
    /// The extra CA file could not be read.
    #[error("AWS_EXTRA_CA_FILE={}: cannot read the file: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file (the extra one, or the bundled one if `path` is `None`) is malformed.
    #[error("{}: not a valid PEM file: {source}", origin(.path))]
    Pem {
        /// The file; `None` for the bundled roots.
        path: Option<PathBuf>,
        /// The PEM problem.
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM file holds no certificate.
    #[error(
        "{}: no certificate in the file (expected -----BEGIN CERTIFICATE----- blocks)",
        origin(.path)
    )]
    NoCertificate {
        /// The file; `None` for the bundled roots.
        path: Option<PathBuf>,
    },
    /// A certificate cannot be a trust anchor (not an X.509 certificate, or unsupported).
    #[error("{}: certificate {index} is not usable as a root: {source}", origin(.path))]
    Anchor {
        /// The file; `None` for the bundled roots.
        path: Option<PathBuf>,
        /// Position of the certificate in the file, from 1.
        index: usize,
        /// Why.
        source: rustls::Error,
    },
    /// The TLS context could not be built.
    #[error("cannot configure TLS for the AWS clients: {0}")]
    Tls(#[source] aws_smithy_http_client::HttpClientError),
}

fn origin(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("AWS_EXTRA_CA_FILE={}", p.display()),
        None => "bundled AWS roots (certs/aws-roots.pem)".to_string(),
    }
}

impl fmt::Debug for TrustStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The roots the AWS clients trust: the bundled ones, then those of the extra file.
///
/// The SDK's client parses the PEM itself (and panics on a certificate it cannot parse), so the
/// extra file is parsed and checked here first, at cold start, to fail with a message instead.
/// The bundled file is not: the unit tests check it, and parsing it twice would cost every cold
/// start about 0.3 M instructions (PEM decoding is constant-time base64, slow by design).
#[derive(Debug, Clone)]
pub struct AwsRoots {
    /// The extra file and its contents.
    extra: Option<(PathBuf, Vec<u8>)>,
}

/// Parses `pem` and checks every certificate in it as a trust anchor, adding it to `store`.
fn add_roots(
    store: &mut rustls::RootCertStore,
    pem: &[u8],
    path: Option<&Path>,
) -> Result<(), TrustStoreError> {
    let path = || path.map(Path::to_path_buf);
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|source| TrustStoreError::Pem {
            path: path(),
            source,
        })?;
        count += 1;
        store.add(cert).map_err(|source| TrustStoreError::Anchor {
            path: path(),
            index: count,
            source,
        })?;
    }
    if count == 0 {
        return Err(TrustStoreError::NoCertificate { path: path() });
    }
    Ok(())
}

impl AwsRoots {
    /// The bundled roots, plus those of `extra_ca_file` if given (read and checked now).
    pub fn load(extra_ca_file: Option<&Path>) -> Result<Self, TrustStoreError> {
        let extra = match extra_ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| TrustStoreError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                add_roots(&mut rustls::RootCertStore::empty(), &pem, Some(path))?;
                Some((path.to_path_buf(), pem))
            }
            None => None,
        };
        Ok(AwsRoots { extra })
    }

    /// Like [`AwsRoots::load`], with the file `AWS_EXTRA_CA_FILE` names (unset or empty: none).
    pub fn from_env() -> Result<Self, TrustStoreError> {
        let extra = std::env::var_os(EXTRA_CA_FILE_VAR).filter(|v| !v.is_empty());
        Self::load(extra.as_deref().map(Path::new))
    }

    /// The roots, parsed: what the SDK's client will trust (tests, diagnostics).
    pub fn root_store(&self) -> Result<rustls::RootCertStore, TrustStoreError> {
        let mut store = rustls::RootCertStore::empty();
        add_roots(&mut store, AWS_ROOTS_PEM.as_bytes(), None)?;
        if let Some((path, pem)) = &self.extra {
            add_roots(&mut store, pem, Some(path))?;
        }
        Ok(store)
    }

    /// The SDK's trust store: these roots and no system root.
    pub fn trust_store(&self) -> TrustStore {
        let store = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AWS_ROOTS_PEM.as_bytes());
        match &self.extra {
            Some((_, pem)) => store.with_pem_certificate(pem.clone()),
            None => store,
        }
    }
}

/// An HTTPS client (hyper 1 and rustls on ring, the reply path's TLS too) trusting `store`.
fn https_client_trusting(store: TrustStore) -> Result<SharedHttpClient, TrustStoreError> {
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(TrustStoreError::Tls)?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https())
}

/// The SDK clients' HTTPS client: hyper 1 and rustls on ring, trusting the bundled AWS roots
/// and those of `AWS_EXTRA_CA_FILE`.
pub fn https_client() -> Result<SharedHttpClient, TrustStoreError> {
    https_client_trusting(AwsRoots::from_env()?.trust_store())
}

/// Like [`https_client`], with the system trust store instead (operator tools).
pub fn system_roots_https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads the SDK configuration from the environment: region from `AWS_REGION`, credentials
/// from the Lambda role (or `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` locally), and the
/// standard endpoint override `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_SQS`, …) that local runs
/// use to reach the emulator. TLS trusts the AWS roots ([`https_client`]).
pub async fn load_sdk_config() -> Result<aws_config::SdkConfig, TrustStoreError> {
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client()?)
        .load()
        .await)
}

/// Like [`load_sdk_config`], trusting the system store (operator tools such as `gatewayctl`,
/// run where a corporate proxy's CA may be installed system-wide).
pub async fn load_sdk_config_with_system_roots() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(system_roots_https_client())
        .load()
        .await
}

/// Bounded AWS calls: each attempt gets `attempt`, all retries together `operation`. The
/// webhooks use it because the platforms give up after 5 seconds (a slow or unreachable queue
/// must turn into a 503 and a platform retry well before that); the reply sender because its
/// worst case per reply is a sum of these bounds.
pub fn call_timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_millis(500)))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// Timeouts of a queue consumer's AWS calls (router, reply sender): a hung dependency fails
/// the record quickly (it is reported for retry) instead of holding the whole batch until the
/// function times out.
pub fn consumer_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// Like [`load_sdk_config`], with the given timeouts.
pub async fn load_sdk_config_with_timeouts(
    timeouts: TimeoutConfig,
) -> Result<aws_config::SdkConfig, TrustStoreError> {
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client()?)
        .timeout_config(timeouts)
        .load()
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const EXPECTED: [&str; 5] = [
        "Amazon Root CA 1",
        "Amazon Root CA 2",
        "Amazon Root CA 3",
        "Amazon Root CA 4",
        "Starfield Services Root Certificate Authority - G2",
    ];

    /// The common name of a trust anchor's subject (DER of the Name's contents): the string
    /// after the last `id-at-commonName` attribute type (OID 2.5.4.3).
    fn common_name(subject: &[u8]) -> String {
        let oid = [0x06, 0x03, 0x55, 0x04, 0x03];
        let at = subject
            .windows(oid.len())
            .rposition(|w| w == oid)
            .expect("a common name");
        let value = &subject[at + oid.len()..];
        // tag (PrintableString or UTF8String), short length, bytes
        let len = usize::from(value[1]);
        String::from_utf8(value[2..2 + len].to_vec()).expect("text")
    }

    fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("gateway-aws-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        path
    }

    #[test]
    fn the_bundled_roots_are_exactly_the_five_aws_roots() {
        let roots = AwsRoots::load(None).expect("bundled roots");
        let mut names: Vec<String> = roots
            .root_store()
            .expect("parsed")
            .roots
            .iter()
            .map(|a| common_name(a.subject.as_ref()))
            .collect();
        names.sort();
        assert_eq!(names, EXPECTED);
    }

    #[test]
    fn the_header_fingerprints_are_those_of_the_bundled_certificates() {
        let listed: Vec<String> = AWS_ROOTS_PEM
            .lines()
            .filter_map(|l| l.strip_prefix("# SHA-256 "))
            .map(|fp| fp.replace(':', "").to_lowercase())
            .collect();
        let computed: Vec<String> = CertificateDer::pem_slice_iter(AWS_ROOTS_PEM.as_bytes())
            .map(|c| hex::encode(Sha256::digest(c.expect("pem").as_ref())))
            .collect();
        assert_eq!(listed.len(), 5);
        assert_eq!(listed, computed);
        // The fingerprints AWS publishes for Amazon Root CA 1 and the Starfield root.
        assert!(listed.contains(
            &"8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e".to_string()
        ));
        assert!(listed.contains(
            &"568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5".to_string()
        ));
    }

    #[test]
    fn an_extra_ca_file_adds_its_roots() {
        let path = temp_file(
            "extra.pem",
            include_bytes!("../testdata/extra-root.pem").as_slice(),
        );
        let roots = AwsRoots::load(Some(&path)).expect("extra roots");
        std::fs::remove_file(&path).ok();
        let names: Vec<String> = roots
            .root_store()
            .expect("parsed")
            .roots
            .iter()
            .map(|a| common_name(a.subject.as_ref()))
            .collect();
        assert_eq!(names.len(), 6);
        assert!(names.contains(&"ISRG Root X1".to_string()));
    }

    #[test]
    fn a_missing_extra_ca_file_is_a_clear_error() {
        let path = std::env::temp_dir().join("gateway-aws-no-such-ca.pem");
        let e = AwsRoots::load(Some(&path)).expect_err("missing file");
        let text = format!("{e:?}");
        assert!(text.starts_with("AWS_EXTRA_CA_FILE="), "{text}");
        assert!(text.contains("gateway-aws-no-such-ca.pem"), "{text}");
        assert!(text.contains("cannot read the file"), "{text}");
        assert_eq!(text, e.to_string());
    }

    #[test]
    fn an_invalid_extra_ca_file_is_a_clear_error() {
        let cases: [(&str, &[u8], &str); 4] = [
            (
                "empty.pem",
                b"# nothing here\n",
                "no certificate in the file",
            ),
            (
                "key.pem",
                b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
                "no certificate in the file",
            ),
            (
                "base64.pem",
                b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
                "not a valid PEM file",
            ),
            (
                "notcert.pem",
                b"-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
                "certificate 1 is not usable as a root",
            ),
        ];
        for (name, contents, expected) in cases {
            let path = temp_file(name, contents);
            let e = AwsRoots::load(Some(&path)).expect_err(name);
            std::fs::remove_file(&path).ok();
            let text = format!("{e:?}");
            assert!(text.starts_with("AWS_EXTRA_CA_FILE="), "{name}: {text}");
            assert!(text.contains(name), "{name}: {text}");
            assert!(text.contains(expected), "{name}: {text}");
        }
    }

    /// Building an SDK client builds its connector, where the SDK parses the PEM (and would
    /// panic on a certificate it cannot parse).
    fn sdk_client(http: SharedHttpClient) -> aws_sdk_sqs::Client {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(http)
            .build();
        aws_sdk_sqs::Client::new(&config)
    }

    #[test]
    fn the_sdk_takes_the_bundled_roots_and_an_extra_file() {
        let roots = AwsRoots::load(None).expect("bundled roots");
        sdk_client(https_client_trusting(roots.trust_store()).expect("client"));
        let path = temp_file(
            "sdk-extra.pem",
            include_bytes!("../testdata/extra-root.pem").as_slice(),
        );
        let roots = AwsRoots::load(Some(&path)).expect("extra roots");
        std::fs::remove_file(&path).ok();
        sdk_client(https_client_trusting(roots.trust_store()).expect("client"));
    }
}

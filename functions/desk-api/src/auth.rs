//! The Cognito access token of a desk request, and who it names.
//!
//! Every desk request carries `Authorization: Bearer <access token>` from the desk's user pool.
//! [`TokenVerifier::verify`] checks it the way AWS documents for Cognito tokens ("Verifying a
//! JSON web token", Amazon Cognito Developer Guide), and more strictly where the desk needs it:
//!
//! 1. the header's `alg` is `RS256` (never `none`, HMAC or any other algorithm);
//! 2. its `kid` names a key of the pool's JWKS (fetched from `jwks_url`, kept for `jwks_cache`,
//!    fetched again at most once a minute when an unknown `kid` appears: keys are rotated);
//! 3. the signature verifies with that key;
//! 4. `iss` is the pool's issuer, `token_use` is `access` (an ID token is refused), and
//!    `client_id` is the desk's app client (access tokens carry `client_id`, not `aud`);
//! 5. `exp` is not past, and `iat`/`nbf`, when present, are not in the future
//!    ([`CLOCK_LEEWAY_SECS`] either way);
//! 6. `sub` and `username` are present; `cognito:groups` becomes [`Identity::groups`].
//!
//! The time is a parameter, so the checks are the same at any instant in tests. Nothing here
//! logs a token or a claim of one: refusals are logged by the caller with their code.
//!
//! Signatures are verified by ring, the TLS stack's crypto (no second RSA implementation and no
//! C library in the zip), through [`jsonwebtoken`]'s `CryptoProvider` interface: the provider
//! installed here knows RS256 and nothing else, so an algorithm the desk does not accept has
//! no verifier to reach even if the header check above were bypassed.

use async_trait::async_trait;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Accepted difference between Cognito's clock and ours, for `exp`, `nbf` and `iat`.
pub const CLOCK_LEEWAY_SECS: u64 = 30;
/// Least time between two fetches of the JWKS caused by a `kid` the cached keys do not have
/// (a forged `kid` must not turn every request into a fetch).
pub const UNKNOWN_KID_REFETCH_AFTER: Duration = Duration::from_secs(60);
/// Least time between two fetches of the JWKS after one failed, while no fresh keys are held.
pub const FAILED_FETCH_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Time limit of one JWKS request (it happens on a request's path).
pub const JWKS_TIMEOUT: Duration = Duration::from_secs(2);

/// Who a valid access token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's `sub`: stable for the user's lifetime in the pool.
    pub sub: String,
    /// The user's `username` in the pool (the agent's name in the desk's data).
    pub username: String,
    /// `cognito:groups` (`agents`, `supervisors`, `admins`, …); empty when the user has none.
    pub groups: Vec<String>,
}

impl Identity {
    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// Why a request's token was refused. Each has a stable [`code`](AuthError::code) for the
/// answer's body and the logs, and an HTTP [`status`](AuthError::status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header (none, empty, or another scheme).
    #[error("no bearer token in the Authorization header")]
    MissingToken,
    /// Not a JWT: wrong shape, bad base64 or JSON, no `kid`, a claim of the wrong type, or no
    /// `exp`, `sub` or `username`.
    #[error("the token is not a well-formed access token")]
    MalformedToken,
    /// The `kid` names no key of the pool, even after fetching the keys again.
    #[error("the token's key is not one of the pool's")]
    UnknownKey,
    /// The signature does not verify, or the token is not signed with RS256 (`none`, HMAC, …).
    #[error("the token's signature does not verify")]
    BadSignature,
    /// Not valid now: past `exp`, or `nbf`/`iat` in the future (beyond the clock leeway).
    #[error("the token is expired or not yet valid")]
    Expired,
    /// `iss` is not the configured pool's issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// `client_id` is not the desk's app client.
    #[error("the token was issued to another app client")]
    WrongClient,
    /// `token_use` is not `access` (an ID token, say).
    #[error("the token is not an access token")]
    WrongTokenUse,
    /// The pool's keys could not be fetched (and none are cached for this `kid`): the request
    /// may succeed later, so 503, not 401.
    #[error("the pool's signing keys are unavailable")]
    KeysUnavailable,
}

impl AuthError {
    /// The stable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::MalformedToken => "malformed_token",
            AuthError::UnknownKey => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongClient => "wrong_client",
            AuthError::WrongTokenUse => "wrong_token_use",
            AuthError::KeysUnavailable => "keys_unavailable",
        }
    }

    /// The HTTP status: 503 when the keys are unavailable, 401 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::KeysUnavailable => 503,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` header of a 401 (RFC 6750, section 3): a bare challenge when no
    /// token came, `invalid_token` for any other refusal; none for a 503.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingToken => Some("Bearer"),
            AuthError::KeysUnavailable => None,
            _ => Some("Bearer error=\"invalid_token\""),
        }
    }
}

/// The token of an `Authorization` header value: `Bearer <token>`, the scheme in any case,
/// separated by spaces. No header, an empty one or another scheme (`Basic …`) is
/// [`AuthError::MissingToken`]; `Bearer` without a token, or a token with characters a JWT
/// cannot hold, is [`AuthError::MalformedToken`].
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(AuthError::MissingToken);
    }
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = rest.trim_start_matches(' ');
    let jwt_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if token.is_empty() || !token.chars().all(jwt_chars) {
        return Err(AuthError::MalformedToken);
    }
    Ok(token)
}

/// What a token must match, from the function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierSettings {
    /// The pool's issuer, `https://cognito-idp.{region}.amazonaws.com/{poolId}`.
    pub issuer: String,
    /// The desk's app client id.
    pub client_id: String,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_cache: Duration,
}

impl VerifierSettings {
    /// From the function's configuration.
    pub fn from_config(config: &crate::config::Config) -> Self {
        VerifierSettings {
            issuer: config.token_issuer.clone(),
            client_id: config.client_id.clone(),
            jwks_cache: config.jwks_cache,
        }
    }
}

/// Where the pool's JWKS document comes from.
#[async_trait]
pub trait JwksSource: Send + Sync {
    /// The JWKS document (JSON text).
    async fn fetch(&self) -> Result<String, JwksFetchError>;
}

/// Why the JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksFetchError {
    /// The request failed (connection, timeout, unreadable body).
    #[error("the JWKS request failed")]
    Transport(#[source] reqwest::Error),
    /// The endpoint answered with another status than 200.
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    /// The document is not a JWKS, or holds no RSA signing key.
    #[error("the JWKS document holds no usable RS256 key: {0}")]
    Unusable(String),
}

/// The JWKS over HTTP(S): `https://cognito-idp.{region}.amazonaws.com/{poolId}/.well-known/jwks.json`
/// in AWS, the emulator's copy locally.
pub struct HttpJwksSource {
    client: reqwest::Client,
    url: String,
}

impl HttpJwksSource {
    /// A source reading `url` with `client`.
    pub fn new(client: reqwest::Client, url: impl Into<String>) -> Self {
        HttpJwksSource {
            client,
            url: url.into(),
        }
    }
}

#[async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self) -> Result<String, JwksFetchError> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(JwksFetchError::Transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(JwksFetchError::Status(status));
        }
        response.text().await.map_err(JwksFetchError::Transport)
    }
}

/// Validates the desk's access tokens against the pool's keys, which it fetches and caches.
pub struct TokenVerifier {
    settings: VerifierSettings,
    source: Arc<dyn JwksSource>,
    cache: tokio::sync::Mutex<KeyCache>,
}

/// The pool's keys by `kid`, and when they were fetched.
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// The last fetch that succeeded.
    fetched_at: Option<Instant>,
    /// The last fetch, whatever its outcome.
    attempted_at: Option<Instant>,
    /// Whether the last fetch failed.
    last_failed: bool,
}

/// The claims of an access token the desk reads. A claim of another type than these (a
/// number for `iss`, a string for `exp`, a duplicated key) makes the token malformed.
#[derive(Deserialize)]
struct AccessClaims {
    iss: Option<String>,
    token_use: Option<String>,
    client_id: Option<String>,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    sub: Option<String>,
    username: Option<String>,
    #[serde(rename = "cognito:groups")]
    groups: Option<Vec<String>>,
}

/// The part of the header read before choosing a key.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

impl TokenVerifier {
    /// A verifier taking the pool's keys from `source`.
    pub fn new(settings: VerifierSettings, source: Arc<dyn JwksSource>) -> Self {
        install_ring_provider();
        TokenVerifier {
            settings,
            source,
            cache: tokio::sync::Mutex::new(KeyCache::default()),
        }
    }

    /// The function's verifier: the keys from `DESK_JWKS_URL` over the platform clients'
    /// HTTPS client (rustls on ring, Mozilla's roots, which hold Cognito's CA).
    pub fn from_config(
        config: &crate::config::Config,
    ) -> Result<Self, gateway_platforms::ClientError> {
        let client = gateway_platforms::http_client(JWKS_TIMEOUT)?;
        Ok(TokenVerifier::new(
            VerifierSettings::from_config(config),
            Arc::new(HttpJwksSource::new(client, &config.jwks_url)),
        ))
    }

    /// The identity of a request with this `Authorization` header value at `now`.
    pub async fn verify_header(
        &self,
        authorization: Option<&str>,
        now: SystemTime,
    ) -> Result<Identity, AuthError> {
        self.verify(bearer_token(authorization)?, now).await
    }

    /// The identity `token` names, if it is a valid access token of the pool at `now`.
    pub async fn verify(&self, token: &str, now: SystemTime) -> Result<Identity, AuthError> {
        let header = raw_header(token)?;
        if header.alg != "RS256" {
            return Err(AuthError::BadSignature);
        }
        let kid = header.kid.ok_or(AuthError::MalformedToken)?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        // The claims are checked below, with the time given rather than the system clock, and
        // in an order that gives each token the most telling refusal.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidAlgorithm
                | ErrorKind::UnsupportedAlgorithm
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
                _ => AuthError::MalformedToken,
            })?
            .claims;
        self.check(claims, now)
    }

    fn check(&self, claims: AccessClaims, now: SystemTime) -> Result<Identity, AuthError> {
        if claims.iss.as_deref() != Some(self.settings.issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
        if claims.token_use.as_deref() != Some("access") {
            return Err(AuthError::WrongTokenUse);
        }
        if claims.client_id.as_deref() != Some(self.settings.client_id.as_str()) {
            return Err(AuthError::WrongClient);
        }
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let exp = claims.exp.ok_or(AuthError::MalformedToken)?;
        if now >= exp.saturating_add(CLOCK_LEEWAY_SECS) {
            return Err(AuthError::Expired);
        }
        let in_future =
            |t: Option<u64>| t.is_some_and(|t| t > now.saturating_add(CLOCK_LEEWAY_SECS));
        if in_future(claims.nbf) || in_future(claims.iat) {
            return Err(AuthError::Expired);
        }
        let present = |s: Option<String>| s.filter(|s| !s.is_empty());
        Ok(Identity {
            sub: present(claims.sub).ok_or(AuthError::MalformedToken)?,
            username: present(claims.username).ok_or(AuthError::MalformedToken)?,
            groups: claims.groups.unwrap_or_default(),
        })
    }

    /// The key `kid` names: from the cache while it is fresh; otherwise, or when the fresh
    /// keys do not have it, fetched again within the limits above. Keys whose cache time is
    /// over stay in use while fetching them again fails (a JWKS outage then costs nobody their
    /// session), and that failure is logged.
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let fresh = cache
            .fetched_at
            .is_some_and(|t| now.duration_since(t) < self.settings.jwks_cache);
        if fresh && let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        let since_attempt = cache.attempted_at.map(|t| now.duration_since(t));
        let may_fetch = match (fresh, cache.last_failed) {
            // Fresh keys without this kid: a rotation, or a forged kid.
            (true, _) => since_attempt.is_none_or(|d| d >= UNKNOWN_KID_REFETCH_AFTER),
            // None yet, or their time is over.
            (false, false) => true,
            (false, true) => since_attempt.is_none_or(|d| d >= FAILED_FETCH_RETRY_AFTER),
        };
        if may_fetch {
            self.refresh(&mut cache, now).await;
        }
        match cache.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if cache.last_failed => Err(AuthError::KeysUnavailable),
            None => Err(AuthError::UnknownKey),
        }
    }

    async fn refresh(&self, cache: &mut KeyCache, now: Instant) {
        cache.attempted_at = Some(now);
        let fetched = self.source.fetch().await.and_then(|text| parse_jwks(&text));
        match fetched {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the user pool's signing keys");
                cache.keys = keys;
                cache.fetched_at = Some(now);
                cache.last_failed = false;
            }
            Err(e) => {
                tracing::error!(
                    error.message = %e,
                    error.cause_chain = ?e,
                    cached_keys = cache.keys.len(),
                    "cannot fetch the user pool's signing keys"
                );
                cache.last_failed = true;
            }
        }
    }
}

/// The header's `alg` and `kid`, read before anything is verified (to choose the key).
fn raw_header(token: &str) -> Result<RawHeader, AuthError> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(AuthError::MalformedToken);
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::MalformedToken)?;
    serde_json::from_slice(&json).map_err(|_| AuthError::MalformedToken)
}

/// The RSA signing keys of a JWKS document by `kid`. Keys for another use (`enc`), another
/// algorithm than RS256, or of another type are left out; a document without any usable key
/// is an error, so that it never replaces usable keys.
fn parse_jwks(text: &str) -> Result<HashMap<String, DecodingKey>, JwksFetchError> {
    let set: JwkSet = serde_json::from_str(text)
        .map_err(|e| JwksFetchError::Unusable(format!("not a JWKS document ({e})")))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let (Some(kid), AlgorithmParameters::RSA(_)) = (&jwk.common.key_id, &jwk.algorithm) else {
            continue;
        };
        let for_signing = matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        );
        let rs256 = matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256));
        if !(for_signing && rs256) {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid.clone(), key);
        }
    }
    if keys.is_empty() {
        return Err(JwksFetchError::Unusable(format!(
            "{} key(s), none an RSA signing key with a kid",
            set.keys.len()
        )));
    }
    Ok(keys)
}

/// Makes the ring provider below jsonwebtoken's, once per process. Should another provider
/// already be installed, it is the one used: the header and the validation still allow
/// RS256 only.
fn install_ring_provider() {
    let _ = CryptoProvider::install_default(&ring_rs256::PROVIDER);
}

/// jsonwebtoken's cryptography for the desk: RS256 verification by ring, nothing else (no
/// signing, no other algorithm, no JWK thumbprints).
mod ring_rs256 {
    use super::*;
    use jsonwebtoken::errors::Result;
    use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};

    pub(super) static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: no_signer,
        verifier_factory: verifier,
        key_utils: KeyUtils {
            rsa_pub_components_from_private_key: |_| Err(unsupported()),
            rsa_pub_components_from_public_key: |_| Err(unsupported()),
            ec_pub_components_from_private_key:
                |_, _| -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> { Err(unsupported()) },
            ed_pub_components_from_private_key: |_, _| Err(unsupported()),
            compute_digest: |_, _: ThumbprintHash| Err(unsupported()),
        },
    };

    fn unsupported() -> jsonwebtoken::errors::Error {
        ErrorKind::UnsupportedAlgorithm.into()
    }

    fn no_signer(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
        Err(unsupported())
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
        if *algorithm != Algorithm::RS256 {
            return Err(unsupported());
        }
        match key.kind() {
            DecodingKeyKind::RsaModulusExponent { n, e } => Ok(Box::new(Rs256 {
                n: without_leading_zeros(n),
                e: without_leading_zeros(e),
            })),
            DecodingKeyKind::SecretOrDer(_) => Err(ErrorKind::InvalidKeyFormat.into()),
        }
    }

    /// ring wants the modulus and exponent without leading zero bytes; some JWKS writers add
    /// one (RFC 7518, section 6.3.1.1, recommends against it).
    fn without_leading_zeros(bytes: &[u8]) -> Vec<u8> {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        bytes[start..].to_vec()
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048 to 8192-bit keys (Cognito's are 2048).
    struct Rs256 {
        n: Vec<u8>,
        e: Vec<u8>,
    }

    impl jsonwebtoken::signature::Verifier<Vec<u8>> for Rs256 {
        fn verify(
            &self,
            message: &[u8],
            signature: &Vec<u8>,
        ) -> std::result::Result<(), jsonwebtoken::signature::Error> {
            ring::signature::RsaPublicKeyComponents {
                n: &self.n,
                e: &self.e,
            }
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                message,
                signature,
            )
            .map_err(|_| jsonwebtoken::signature::Error::new())
        }
    }

    impl JwtVerifier for Rs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::RS256
        }
    }
}

#[cfg(test)]
mod tests;

//! The verifier against tokens signed here with RSA keys generated when the tests run (no
//! private key is stored anywhere), by the `rsa` crate: an implementation independent of the
//! ring verifier under test.
#![allow(clippy::unwrap_used)]

use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_desk";
const CLIENT: &str = "desk-web-client";
/// 2026-12-01T00:00:00Z.
const T0: u64 = 1_796_083_200;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A key pair made for this test run.
struct TestKey {
    kid: &'static str,
    private: rsa::PrivateKey,
}

impl TestKey {
    fn generate(kid: &'static str) -> TestKey {
        let private = rsa::PrivateKey::new(&mut rand::rngs::SysRng, 2048).unwrap();
        TestKey { kid, private }
    }

    fn jwk(&self) -> Value {
        let public = self.private.to_public_key();
        json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.n_bytes()),
            "e": URL_SAFE_NO_PAD.encode(public.e_bytes()),
        })
    }

    /// `header.claims` signed with this key (RS256), whatever the header says.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64_json(header), b64_json(claims));
        let signature = SigningKey::<rsa::sha2::Sha256>::new(self.private.clone())
            .sign(message.as_bytes())
            .to_vec();
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A token with the usual header.
    fn token(&self, claims: &Value) -> String {
        self.sign(&json!({"alg": "RS256", "kid": self.kid}), claims)
    }
}

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// The pool's current key, and a second one: a rotation's next key or an attacker's.
fn key_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("key-a"))
}

fn key_b() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("key-b"))
}

fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

/// Access-token claims as Cognito writes them, issued at T0 for an hour.
fn claims() -> Value {
    json!({
        "sub": "5b3c0f6e-1111-4222-8333-944455556666",
        "cognito:groups": ["agents"],
        "iss": ISSUER,
        "client_id": CLIENT,
        "origin_jti": "0b8f5a52-0000-4000-8000-000000000001",
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": T0,
        "iat": T0,
        "exp": T0 + 3600,
        "jti": "0b8f5a52-0000-4000-8000-000000000002",
        "username": "agent1",
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

/// A JWKS source whose document the test sets, counting fetches.
#[derive(Default)]
struct FakeJwks {
    document: Mutex<Option<String>>,
    fetches: AtomicUsize,
}

impl FakeJwks {
    fn serving(document: String) -> Arc<FakeJwks> {
        let source = FakeJwks::default();
        *source.document.lock().unwrap() = Some(document);
        Arc::new(source)
    }

    fn set(&self, document: Option<String>) {
        *self.document.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl JwksSource for FakeJwks {
    async fn fetch(&self) -> Result<String, JwksFetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.document
            .lock()
            .unwrap()
            .clone()
            .ok_or(JwksFetchError::Status(503))
    }
}

fn settings() -> VerifierSettings {
    VerifierSettings {
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        jwks_cache: Duration::from_secs(3600),
    }
}

fn verifier(source: &Arc<FakeJwks>) -> TokenVerifier {
    TokenVerifier::new(settings(), source.clone())
}

/// The outcome of `token` at `now` with the pool's keys being key A only.
async fn verify_at(token: &str, now: u64) -> Result<Identity, AuthError> {
    let source = FakeJwks::serving(jwks(&[key_a()]));
    verifier(&source).verify(token, at(now)).await
}

async fn verify(token: &str) -> Result<Identity, AuthError> {
    verify_at(token, T0 + 60).await
}

// Bearer header

#[test]
fn bearer_token_takes_the_token_whatever_the_case_of_the_scheme() {
    for header in [
        "Bearer a.b.c",
        "bearer a.b.c",
        "BEARER a.b.c",
        "bEaReR   a.b.c",
        "  Bearer a.b.c  ",
    ] {
        assert_eq!(bearer_token(Some(header)), Ok("a.b.c"), "{header:?}");
    }
    assert_eq!(
        bearer_token(Some("Bearer eyJ-_0.eyJ-_1.sig_-9")),
        Ok("eyJ-_0.eyJ-_1.sig_-9")
    );
}

#[test]
fn bearer_token_without_a_bearer_header_is_missing() {
    for header in [
        None,
        Some(""),
        Some("   "),
        Some("Basic YWdlbnQxOnB3"),
        Some("Bearertoken"),
        Some("Token a.b.c"),
    ] {
        assert_eq!(
            bearer_token(header),
            Err(AuthError::MissingToken),
            "{header:?}"
        );
    }
}

#[test]
fn bearer_token_that_cannot_be_a_jwt_is_malformed() {
    for header in [
        "Bearer",
        "Bearer    ",
        "Bearer a.b.c extra",
        "Bearer a.b.c,d",
        "Bearer \"a.b.c\"",
        "Bearer a.b\nc",
        "Bearer a+b/c=",
    ] {
        assert_eq!(
            bearer_token(Some(header)),
            Err(AuthError::MalformedToken),
            "{header:?}"
        );
    }
}

#[test]
fn every_refusal_has_its_own_stable_code_and_only_unavailable_keys_are_a_503() {
    use AuthError::*;
    let all = [
        (MissingToken, "missing_token", 401),
        (MalformedToken, "malformed_token", 401),
        (UnknownKey, "unknown_key", 401),
        (BadSignature, "bad_signature", 401),
        (Expired, "expired", 401),
        (WrongIssuer, "wrong_issuer", 401),
        (WrongClient, "wrong_client", 401),
        (WrongTokenUse, "wrong_token_use", 401),
        (KeysUnavailable, "keys_unavailable", 503),
    ];
    for (error, code, status) in all {
        assert_eq!((error.code(), error.status()), (code, status), "{error:?}");
    }
    let codes: std::collections::HashSet<_> = all.iter().map(|(e, _, _)| e.code()).collect();
    assert_eq!(codes.len(), all.len());
    assert_eq!(MissingToken.www_authenticate(), Some("Bearer"));
    assert_eq!(
        Expired.www_authenticate(),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(KeysUnavailable.www_authenticate(), None);
}

// Valid tokens

#[tokio::test]
async fn a_valid_access_token_names_the_user_and_their_groups() {
    let token = key_a().token(&with(
        claims(),
        "cognito:groups",
        json!(["agents", "supervisors"]),
    ));
    let identity = verify(&token).await.unwrap();
    assert_eq!(
        identity,
        Identity {
            sub: "5b3c0f6e-1111-4222-8333-944455556666".into(),
            username: "agent1".into(),
            groups: vec!["agents".into(), "supervisors".into()],
        }
    );
    assert!(identity.in_group("supervisors"));
    assert!(!identity.in_group("admins"));
}

#[tokio::test]
async fn a_user_without_groups_has_none() {
    let token = key_a().token(&without(claims(), "cognito:groups"));
    assert_eq!(verify(&token).await.unwrap().groups, Vec::<String>::new());
}

#[tokio::test]
async fn the_header_is_read_through_the_bearer_parser() {
    let source = FakeJwks::serving(jwks(&[key_a()]));
    let verifier = verifier(&source);
    let token = key_a().token(&claims());
    let header = format!("bearer {token}");
    assert_eq!(
        verifier
            .verify_header(Some(&header), at(T0))
            .await
            .unwrap()
            .username,
        "agent1"
    );
    assert_eq!(
        verifier.verify_header(None, at(T0)).await,
        Err(AuthError::MissingToken)
    );
    assert_eq!(source.fetches(), 1, "no key is fetched for a missing token");
}

// Algorithms and signatures

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let header = b64_json(&json!({"alg": "none", "kid": "key-a"}));
    let payload = b64_json(&claims());
    // As `none` tokens are written (empty signature), and with some bytes in its place.
    assert_eq!(
        verify(&format!("{header}.{payload}.")).await,
        Err(AuthError::MalformedToken)
    );
    assert_eq!(
        verify(&format!("{header}.{payload}.c2ln")).await,
        Err(AuthError::BadSignature)
    );
    // Signed with the pool's key but saying `none`: the header is not taken at its word.
    let signed = key_a().sign(&json!({"alg": "none", "kid": "key-a"}), &claims());
    assert_eq!(verify(&signed).await, Err(AuthError::BadSignature));
}

#[tokio::test]
async fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    // The classic confusion: HS256 with the RSA public key (which anyone has) as the secret.
    let header = b64_json(&json!({"alg": "HS256", "kid": "key-a", "typ": "JWT"}));
    let message = format!("{header}.{}", b64_json(&claims()));
    for secret in [
        key_a().jwk().to_string().into_bytes(),
        key_a().private.to_public_key().n_bytes().to_vec(),
    ] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let tag = ring::hmac::sign(&key, message.as_bytes());
        let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        assert_eq!(verify(&token).await, Err(AuthError::BadSignature));
    }
}

#[tokio::test]
async fn only_rs256_is_accepted_even_with_a_valid_rsa_signature() {
    for alg in [
        "RS384", "RS512", "PS256", "ES256", "EdDSA", "HS512", "rs256",
    ] {
        let token = key_a().sign(&json!({"alg": alg, "kid": "key-a"}), &claims());
        assert_eq!(verify(&token).await, Err(AuthError::BadSignature), "{alg}");
    }
}

#[test]
fn the_ring_provider_has_no_verifier_for_another_algorithm_and_signs_nothing() {
    let key = DecodingKey::from_jwk(&serde_json::from_value(key_a().jwk()).unwrap()).unwrap();
    let hmac = DecodingKey::from_secret(b"secret").unwrap();
    for (alg, key) in [
        (Algorithm::HS256, &hmac),
        (Algorithm::RS384, &key),
        (Algorithm::PS256, &key),
        (Algorithm::RS256, &hmac),
    ] {
        assert!(
            (ring_rs256::PROVIDER.verifier_factory)(&alg, key).is_err(),
            "{alg:?}"
        );
    }
    assert!((ring_rs256::PROVIDER.verifier_factory)(&Algorithm::RS256, &key).is_ok());
    let encoding = EncodingKey::from_secret(b"secret").unwrap();
    assert!((ring_rs256::PROVIDER.signer_factory)(&Algorithm::HS256, &encoding).is_err());
}

#[tokio::test]
async fn a_token_whose_payload_was_altered_is_refused() {
    let token = key_a().token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = b64_json(&with(
        claims(),
        "cognito:groups",
        json!(["agents", "admins"]),
    ));
    let altered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_eq!(verify(&altered).await, Err(AuthError::BadSignature));
    // One flipped bit of the signature.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[100] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert_eq!(verify(&flipped).await, Err(AuthError::BadSignature));
    assert!(verify(&token).await.is_ok(), "the untouched token is valid");
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_the_pools_kid_is_refused() {
    let token = key_b().sign(&json!({"alg": "RS256", "kid": "key-a"}), &claims());
    assert_eq!(verify(&token).await, Err(AuthError::BadSignature));
}

#[tokio::test]
async fn a_jwks_modulus_with_a_leading_zero_byte_still_verifies() {
    let mut jwk = key_a().jwk();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let mut padded = vec![0u8];
    padded.extend(n);
    jwk["n"] = json!(URL_SAFE_NO_PAD.encode(padded));
    let source = FakeJwks::serving(json!({ "keys": [jwk] }).to_string());
    let identity = verifier(&source)
        .verify(&key_a().token(&claims()), at(T0))
        .await;
    assert_eq!(identity.unwrap().username, "agent1");
}

// Shape

#[tokio::test]
async fn tokens_that_are_not_jwts_are_malformed() {
    let good = key_a().token(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    for token in [
        "abc".to_string(),
        "a.b".to_string(),
        format!("{good}.extra"),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
        format!("!!.{}.{}", parts[1], parts[2]),
        format!("{not_json}.{}.{}", parts[1], parts[2]),
        // Signed, but the payload is not JSON.
        {
            let message = format!("{}.{not_json}", parts[0]);
            let signature = SigningKey::<rsa::sha2::Sha256>::new(key_a().private.clone())
                .sign(message.as_bytes())
                .to_vec();
            format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
        },
        // No kid to choose a key by.
        key_a().sign(&json!({"alg": "RS256"}), &claims()),
    ] {
        assert_eq!(
            verify(&token).await,
            Err(AuthError::MalformedToken),
            "{token}"
        );
    }
}

#[tokio::test]
async fn claims_of_the_wrong_type_make_a_signed_token_malformed() {
    for (claim, value) in [
        ("exp", json!("1796086800")),
        ("exp", json!(-1)),
        ("iat", json!("now")),
        ("iss", json!([ISSUER])),
        ("client_id", json!([CLIENT])),
        ("cognito:groups", json!("admins")),
        ("username", json!(42)),
    ] {
        let token = key_a().token(&with(claims(), claim, value.clone()));
        assert_eq!(
            verify(&token).await,
            Err(AuthError::MalformedToken),
            "{claim} = {value}"
        );
    }
}

#[tokio::test]
async fn a_token_without_exp_sub_or_username_is_malformed() {
    for claim in ["exp", "sub", "username"] {
        let token = key_a().token(&without(claims(), claim));
        assert_eq!(
            verify(&token).await,
            Err(AuthError::MalformedToken),
            "{claim}"
        );
        let token = key_a().token(&with(claims(), claim, json!("")));
        assert_eq!(
            verify(&token).await,
            Err(AuthError::MalformedToken),
            "empty {claim}"
        );
    }
}

#[tokio::test]
async fn a_header_with_an_unknown_critical_extension_is_refused() {
    let token = key_a().sign(
        &json!({"alg": "RS256", "kid": "key-a", "crit": ["x-unknown"], "x-unknown": true}),
        &claims(),
    );
    assert_eq!(verify(&token).await, Err(AuthError::MalformedToken));
}

// Claims

#[tokio::test]
async fn a_token_of_another_issuer_is_refused() {
    for iss in [
        json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"),
        json!(format!("{ISSUER}/")),
        json!(null),
    ] {
        let token = key_a().token(&with(claims(), "iss", iss.clone()));
        assert_eq!(verify(&token).await, Err(AuthError::WrongIssuer), "{iss}");
    }
    let token = key_a().token(&without(claims(), "iss"));
    assert_eq!(verify(&token).await, Err(AuthError::WrongIssuer));
}

#[tokio::test]
async fn an_id_token_is_refused_for_its_use() {
    // As Cognito writes an ID token: `aud` instead of `client_id`, `cognito:username`.
    let mut id = without(without(claims(), "client_id"), "username");
    id["aud"] = json!(CLIENT);
    id["token_use"] = json!("id");
    id["cognito:username"] = json!("agent1");
    assert_eq!(
        verify(&key_a().token(&id)).await,
        Err(AuthError::WrongTokenUse)
    );
    let token = key_a().token(&without(claims(), "token_use"));
    assert_eq!(verify(&token).await, Err(AuthError::WrongTokenUse));
}

#[tokio::test]
async fn a_token_of_another_app_client_is_refused() {
    let token = key_a().token(&with(claims(), "client_id", json!("another-client")));
    assert_eq!(verify(&token).await, Err(AuthError::WrongClient));
    // `aud` is not read for access tokens: only `client_id` says who the token is for.
    let mut aud_only = without(claims(), "client_id");
    aud_only["aud"] = json!(CLIENT);
    assert_eq!(
        verify(&key_a().token(&aud_only)).await,
        Err(AuthError::WrongClient)
    );
}

#[tokio::test]
async fn a_token_is_valid_until_its_exp_plus_the_leeway() {
    let token = key_a().token(&claims());
    let exp = T0 + 3600;
    assert!(verify_at(&token, exp - 1).await.is_ok());
    assert!(verify_at(&token, exp + CLOCK_LEEWAY_SECS - 1).await.is_ok());
    assert_eq!(
        verify_at(&token, exp + CLOCK_LEEWAY_SECS).await,
        Err(AuthError::Expired)
    );
    assert_eq!(
        verify_at(&token, exp + 86_400).await,
        Err(AuthError::Expired)
    );
}

#[tokio::test]
async fn a_token_issued_or_valid_only_in_the_future_is_refused() {
    let now = T0 + 60;
    for claim in ["iat", "nbf"] {
        let soon = key_a().token(&with(claims(), claim, json!(now + CLOCK_LEEWAY_SECS)));
        assert!(
            verify_at(&soon, now).await.is_ok(),
            "{claim} within the leeway"
        );
        let later = key_a().token(&with(claims(), claim, json!(now + CLOCK_LEEWAY_SECS + 1)));
        assert_eq!(
            verify_at(&later, now).await,
            Err(AuthError::Expired),
            "{claim} beyond the leeway"
        );
    }
    // Neither is required (Cognito's access tokens carry `iat`, not `nbf`).
    let token = key_a().token(&without(claims(), "iat"));
    assert!(verify_at(&token, now).await.is_ok());
}

#[tokio::test]
async fn the_issuer_is_checked_before_the_use_the_client_and_the_time() {
    // Another pool's ID token for another client, long expired: refused as another issuer's.
    let mut foreign = with(claims(), "iss", json!("https://example.com/pool"));
    foreign["token_use"] = json!("id");
    foreign["client_id"] = json!("x");
    let token = key_a().token(&foreign);
    assert_eq!(
        verify_at(&token, T0 + 86_400).await,
        Err(AuthError::WrongIssuer)
    );
    // The pool's ID token: refused for its use before its (absent) client_id.
    let token = key_a().token(&with(
        with(claims(), "token_use", json!("id")),
        "client_id",
        json!("x"),
    ));
    assert_eq!(verify(&token).await, Err(AuthError::WrongTokenUse));
}

// Keys: cache, rotation, outages

#[tokio::test(start_paused = true)]
async fn keys_are_fetched_once_while_the_cache_is_fresh_then_again() {
    let source = FakeJwks::serving(jwks(&[key_a()]));
    let verifier = verifier(&source);
    let token = key_a().token(&claims());
    for _ in 0..5 {
        verifier.verify(&token, at(T0)).await.unwrap();
    }
    assert_eq!(source.fetches(), 1);
    tokio::time::advance(Duration::from_secs(3599)).await;
    verifier.verify(&token, at(T0)).await.unwrap();
    assert_eq!(source.fetches(), 1, "still fresh");
    tokio::time::advance(Duration::from_secs(1)).await;
    verifier.verify(&token, at(T0)).await.unwrap();
    assert_eq!(source.fetches(), 2, "fetched again after jwks_cache");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_kid_refetches_the_keys_at_most_once_a_minute() {
    let source = FakeJwks::serving(jwks(&[key_a()]));
    let verifier = verifier(&source);
    let stranger = key_b().token(&claims());
    // The first fetch, then nothing new for a minute however many unknown kids come.
    for _ in 0..3 {
        assert_eq!(
            verifier.verify(&stranger, at(T0)).await,
            Err(AuthError::UnknownKey)
        );
    }
    assert_eq!(source.fetches(), 1);
    tokio::time::advance(UNKNOWN_KID_REFETCH_AFTER - Duration::from_secs(1)).await;
    assert_eq!(
        verifier.verify(&stranger, at(T0)).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(source.fetches(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        verifier.verify(&stranger, at(T0)).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(source.fetches(), 2, "one refetch after the minute");
    // Known keys keep working meanwhile, without fetches.
    verifier
        .verify(&key_a().token(&claims()), at(T0))
        .await
        .unwrap();
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_rotated_key_is_picked_up_by_refetching_on_its_kid() {
    let source = FakeJwks::serving(jwks(&[key_a()]));
    let verifier = verifier(&source);
    verifier
        .verify(&key_a().token(&claims()), at(T0))
        .await
        .unwrap();
    // The pool publishes its next key; a token signed with it arrives after the minute.
    source.set(Some(jwks(&[key_a(), key_b()])));
    tokio::time::advance(UNKNOWN_KID_REFETCH_AFTER).await;
    let identity = verifier.verify(&key_b().token(&claims()), at(T0)).await;
    assert_eq!(identity.unwrap().username, "agent1");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn no_keys_at_all_is_a_503_retried_after_a_pause() {
    let source = Arc::new(FakeJwks::default());
    let verifier = verifier(&source);
    let token = key_a().token(&claims());
    let refused = verifier.verify(&token, at(T0)).await;
    assert_eq!(refused, Err(AuthError::KeysUnavailable));
    assert_eq!(refused.unwrap_err().status(), 503);
    assert_eq!(
        verifier.verify(&token, at(T0)).await,
        Err(AuthError::KeysUnavailable)
    );
    assert_eq!(source.fetches(), 1, "no second fetch within the pause");
    source.set(Some(jwks(&[key_a()])));
    tokio::time::advance(FAILED_FETCH_RETRY_AFTER).await;
    verifier.verify(&token, at(T0)).await.unwrap();
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn expired_keys_stay_in_use_while_fetching_them_again_fails() {
    let source = FakeJwks::serving(jwks(&[key_a()]));
    let verifier = verifier(&source);
    let token = key_a().token(&claims());
    verifier.verify(&token, at(T0)).await.unwrap();
    source.set(None);
    tokio::time::advance(Duration::from_secs(3600)).await;
    verifier.verify(&token, at(T0)).await.unwrap();
    assert_eq!(source.fetches(), 2, "a fetch was tried");
    // A kid the old keys lack cannot be told apart from a forged one: the keys are unavailable.
    assert_eq!(
        verifier.verify(&key_b().token(&claims()), at(T0)).await,
        Err(AuthError::KeysUnavailable)
    );
}

#[tokio::test(start_paused = true)]
async fn a_jwks_without_an_rs256_signing_key_is_unusable() {
    let mut enc = key_a().jwk();
    enc["use"] = json!("enc");
    let mut rs512 = key_a().jwk();
    rs512["alg"] = json!("RS512");
    let ec = json!({"kty": "EC", "crv": "P-256", "kid": "key-a",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    for document in [
        json!({"keys": [enc]}).to_string(),
        json!({"keys": [rs512]}).to_string(),
        json!({"keys": [ec]}).to_string(),
        json!({"keys": []}).to_string(),
        "<html>not found</html>".to_string(),
    ] {
        let source = FakeJwks::serving(document.clone());
        assert_eq!(
            verifier(&source)
                .verify(&key_a().token(&claims()), at(T0))
                .await,
            Err(AuthError::KeysUnavailable),
            "{document}"
        );
    }
    // A usable key next to unusable ones is taken.
    let mixed = json!({"keys": [ec, key_a().jwk()]}).to_string();
    let source = FakeJwks::serving(mixed);
    assert!(
        verifier(&source)
            .verify(&key_a().token(&claims()), at(T0))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_http_source_reads_the_document_and_refuses_other_statuses() {
    let client = || gateway_platforms::http_client(JWKS_TIMEOUT).unwrap();
    let ok = serve_once("200 OK", &jwks(&[key_a()]));
    let source = HttpJwksSource::new(client(), ok);
    assert_eq!(source.fetch().await.unwrap(), jwks(&[key_a()]));
    let missing = serve_once("404 Not Found", "{}");
    let source = HttpJwksSource::new(client(), missing);
    assert!(matches!(
        source.fetch().await,
        Err(JwksFetchError::Status(404))
    ));
    // Nothing listening.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks.json", listener.local_addr().unwrap())
    };
    let source = HttpJwksSource::new(client(), closed);
    assert!(matches!(
        source.fetch().await,
        Err(JwksFetchError::Transport(_))
    ));
}

/// A one-request HTTP server answering `status` with `body`; its URL.
fn serve_once(status: &'static str, body: &str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/us-east-1_desk/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let body = body.to_string();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request).unwrap();
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
    });
    url
}

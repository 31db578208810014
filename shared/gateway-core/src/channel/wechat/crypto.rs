//! WeChat message encryption (安全模式 / 兼容模式): key derivation, AES-256-CBC with the
//! platform's 32-byte PKCS#7 padding and `random ‖ len ‖ msg ‖ appid` framing, and the
//! encrypted reply envelope.
//!
//! Reference: official Official Account docs (developers.weixin.qq.com, 消息推送 / 消息加解密说明), encryption section. Pure: no I/O; the only randomness is the
//! operating-system CSPRNG in [`random_prefix`] and the `*_random` conveniences, and every
//! function that needs randomness has a variant that takes it as an argument.

use crate::channel::{WebhookError, sorted_sha1_hex, xml};
use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use std::fmt;

/// The padding block size WeChat uses (not AES's 16).
pub const PAD_BLOCK: usize = 32;

/// Length of the random prefix of every plaintext.
pub const RANDOM_LEN: usize = 16;

/// Standard-alphabet base64 that accepts non-zero trailing bits in the last symbol: real
/// EncodingAESKeys need it (reference §2.3.2). Encoding output is canonical, padded base64.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

type CbcEnc = cbc::Encryptor<Aes256>;
type CbcDec = cbc::Decryptor<Aes256>;

/// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]` (the message never contains the
/// key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("EncodingAESKey must be 43 characters of [A-Za-z0-9]")]
pub struct InvalidAesKey;

/// A 32-byte AES key derived from an EncodingAESKey. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey([redacted])")
    }
}

impl AesKey {
    /// `AESKey = base64_decode(EncodingAESKey + "=")`, allowing non-zero trailing bits.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<Self, InvalidAesKey> {
        if encoding_aes_key.len() != 43
            || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(InvalidAesKey);
        }
        let mut padded = String::with_capacity(44);
        padded.push_str(encoding_aes_key);
        padded.push('=');
        let bytes = LENIENT_BASE64.decode(padded).map_err(|_| InvalidAesKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| InvalidAesKey)?;
        Ok(AesKey(key))
    }

    /// The raw key bytes (tests and diagnostics; never log them).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

/// A decrypted payload: the framing's parts.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The 16-byte random prefix.
    pub random: [u8; RANDOM_LEN],
    /// The message bytes (`msg_len` of them).
    pub msg: Vec<u8>,
    /// The trailing app id (receive id).
    pub app_id: Vec<u8>,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("msg_len", &self.msg.len())
            .field("app_id", &String::from_utf8_lossy(&self.app_id))
            .finish_non_exhaustive()
    }
}

/// `msg_signature = hex(sha1(sort(token, timestamp, nonce, encrypt)))`.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sorted_sha1_hex(&[token, timestamp, nonce, encrypt])
}

/// `signature = hex(sha1(sort(token, timestamp, nonce)))`.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1_hex(&[token, timestamp, nonce])
}

/// 16 bytes from the operating-system CSPRNG, for the plaintext prefix.
///
/// # Panics
/// If the operating system cannot supply randomness (`getrandom(2)` failing on Linux): a
/// reply is never sealed with a predictable prefix.
pub fn random_prefix() -> [u8; RANDOM_LEN] {
    let mut random = [0u8; RANDOM_LEN];
    getrandom::fill(&mut random).expect("operating-system randomness is unavailable");
    random
}

/// The buffer as AES blocks, in place. `buf.len()` must be a multiple of 16 (every caller
/// checks or builds it so); a shorter tail would be left out, never read past.
fn as_blocks(buf: &mut [u8]) -> &mut [aes::Block] {
    let (blocks, tail) = aes::Block::slice_as_chunks_mut(buf);
    debug_assert!(tail.is_empty());
    blocks
}

/// Encrypts `plaintext` for `app_id`: `base64(AES-256-CBC(random ‖ u32be(len) ‖ plaintext ‖
/// app_id ‖ pkcs7_32))` with IV = key[..16].
///
/// Messages longer than `u32::MAX` bytes cannot be framed; their length field is saturated
/// (WeChat payloads are a few KB, and the webhook never encrypts anything that large).
pub fn encrypt(key: &AesKey, app_id: &str, plaintext: &[u8], random: &[u8; RANDOM_LEN]) -> String {
    let msg_len = u32::try_from(plaintext.len()).unwrap_or(u32::MAX);
    let unpadded = RANDOM_LEN + 4 + plaintext.len() + app_id.len();
    let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
    let mut buf = Vec::with_capacity(unpadded + pad);
    buf.extend_from_slice(random);
    buf.extend_from_slice(&msg_len.to_be_bytes());
    buf.extend_from_slice(plaintext);
    buf.extend_from_slice(app_id.as_bytes());
    // pad is in 1..=32, so it fits a byte.
    buf.resize(unpadded + pad, pad as u8);

    // In place: the padded length is a multiple of 32.
    CbcEnc::new(&key.0.into(), &key.iv().into()).encrypt_blocks(as_blocks(&mut buf));
    LENIENT_BASE64.encode(buf)
}

/// Decrypts an `Encrypt` value and checks its framing, without checking the app id.
///
/// Errors, in the order they are checked: [`WebhookError::BadBase64`];
/// [`WebhookError::BadCiphertext`] (length 0 or not a multiple of 32);
/// [`WebhookError::BadPadding`] (pad value outside 1..=32 or pad bytes not all equal);
/// [`WebhookError::BadCiphertext`] (fewer than 20 bytes, or `msg_len` beyond the buffer).
pub fn decrypt(key: &AesKey, encrypt: &str) -> Result<Decrypted, WebhookError> {
    let ciphertext = LENIENT_BASE64
        .decode(encrypt)
        .map_err(|_| WebhookError::BadBase64)?;
    if ciphertext.is_empty() || ciphertext.len() % PAD_BLOCK != 0 {
        return Err(WebhookError::BadCiphertext);
    }
    // In place: the length is a multiple of 32, so every byte is in a whole AES block.
    let mut plain = ciphertext;
    CbcDec::new(&key.0.into(), &key.iv().into()).decrypt_blocks(as_blocks(&mut plain));

    let pad = usize::from(*plain.last().ok_or(WebhookError::BadCiphertext)?);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
        return Err(WebhookError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(WebhookError::BadPadding);
    }

    if body.len() < RANDOM_LEN + 4 {
        return Err(WebhookError::BadCiphertext);
    }
    let (random, rest) = body.split_at(RANDOM_LEN);
    let (len_bytes, rest) = rest.split_at(4);
    let mut len_be = [0u8; 4];
    len_be.copy_from_slice(len_bytes);
    let msg_len =
        usize::try_from(u32::from_be_bytes(len_be)).map_err(|_| WebhookError::BadCiphertext)?;
    if msg_len > rest.len() {
        return Err(WebhookError::BadCiphertext);
    }
    let (msg, app_id) = rest.split_at(msg_len);
    let mut random_arr = [0u8; RANDOM_LEN];
    random_arr.copy_from_slice(random);
    Ok(Decrypted {
        random: random_arr,
        msg: msg.to_vec(),
        app_id: app_id.to_vec(),
    })
}

/// [`decrypt`], then requires the trailing app id to equal `app_id`
/// ([`WebhookError::AppIdMismatch`]). Returns the message bytes.
pub fn decrypt_for(key: &AesKey, app_id: &str, encrypt: &str) -> Result<Vec<u8>, WebhookError> {
    let decrypted = decrypt(key, encrypt)?;
    if decrypted.app_id != app_id.as_bytes() {
        return Err(WebhookError::AppIdMismatch);
    }
    Ok(decrypted.msg)
}

/// The parts of an encrypted passive reply (reference §2.3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedReply {
    /// base64 ciphertext of the reply XML.
    pub encrypt: String,
    /// `sha1(sort(token, timestamp, nonce, encrypt))`.
    pub msg_signature: String,
    /// The reply's own timestamp (Unix seconds).
    pub timestamp: String,
    /// The reply's nonce (usually the request's nonce echoed back).
    pub nonce: String,
}

impl EncryptedReply {
    /// Encrypts `reply_xml` with the given 16-byte random prefix and signs it.
    pub fn seal_with_random(
        token: &str,
        key: &AesKey,
        app_id: &str,
        reply_xml: &str,
        timestamp: i64,
        nonce: &str,
        random: &[u8; RANDOM_LEN],
    ) -> Self {
        let encrypt = encrypt(key, app_id, reply_xml.as_bytes(), random);
        let timestamp = timestamp.to_string();
        let msg_signature = msg_signature(token, &timestamp, nonce, &encrypt);
        EncryptedReply {
            encrypt,
            msg_signature,
            timestamp,
            nonce: nonce.to_string(),
        }
    }

    /// [`seal_with_random`](Self::seal_with_random) with a fresh CSPRNG prefix.
    pub fn seal(
        token: &str,
        key: &AesKey,
        app_id: &str,
        reply_xml: &str,
        timestamp: i64,
        nonce: &str,
    ) -> Self {
        Self::seal_with_random(
            token,
            key,
            app_id,
            reply_xml,
            timestamp,
            nonce,
            &random_prefix(),
        )
    }

    /// The XML envelope WeChat expects as the HTTP response body:
    /// `<xml><Encrypt>…</Encrypt><MsgSignature>…</MsgSignature><TimeStamp>…</TimeStamp><Nonce>…</Nonce></xml>`.
    pub fn to_xml(&self) -> String {
        format!(
            "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{}</TimeStamp><Nonce>{}</Nonce></xml>",
            xml::cdata(&self.encrypt),
            xml::cdata(&self.msg_signature),
            xml::escape_text(&self.timestamp),
            xml::cdata(&self.nonce),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const V4_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const V4_APPID: &str = "wxb11529c136998cb6";
    const V4_ENCRYPT: &str =
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
    const V11_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const V11_APPID: &str = "wxba5fad812f8e6fb9";
    const V11_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";

    fn key(s: &str) -> AesKey {
        AesKey::from_encoding_aes_key(s).expect("valid key")
    }

    /// Encrypts an arbitrary (possibly invalid) padded plaintext, for framing/padding tests.
    fn raw_encrypt(key: &AesKey, plain: &[u8]) -> String {
        assert_eq!(plain.len() % 16, 0);
        let mut buf = plain.to_vec();
        CbcEnc::new(&key.0.into(), &key.iv().into()).encrypt_blocks(as_blocks(&mut buf));
        LENIENT_BASE64.encode(buf)
    }

    #[test]
    fn v4_key_with_non_canonical_trailing_bits_derives() {
        assert_eq!(
            hex::encode(key(V4_KEY).as_bytes()),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        // The strict engine refuses the same key: this is the pitfall the lenient one avoids.
        assert!(
            base64::engine::general_purpose::STANDARD
                .decode(format!("{V4_KEY}="))
                .is_err()
        );
        assert_eq!(AesKey::from_encoding_aes_key("abcde"), Err(InvalidAesKey));
        assert_eq!(
            AesKey::from_encoding_aes_key(&format!("{}!", &V4_KEY[..42])),
            Err(InvalidAesKey)
        );
        assert!(!format!("{:?}", key(V4_KEY)).contains("69b7"));
    }

    #[test]
    fn v4_official_java_sample_encrypts_and_decrypts() {
        let k = key(V4_KEY);
        let enc = encrypt(
            &k,
            V4_APPID,
            "我是中文abcd123".as_bytes(),
            b"aaaabbbbccccdddd",
        );
        assert_eq!(enc, V4_ENCRYPT);
        assert_eq!(
            msg_signature("pamtest", "1409304348", "xxxxxx", &enc),
            "82c962d39941aa48552f90ef55aa323dc620cc10"
        );
        let dec = decrypt(&k, V4_ENCRYPT).expect("decrypts");
        assert_eq!(&dec.random, b"aaaabbbbccccdddd");
        assert_eq!(dec.msg, "我是中文abcd123".as_bytes());
        assert_eq!(dec.app_id, V4_APPID.as_bytes());
        assert_eq!(
            decrypt_for(&k, V4_APPID, V4_ENCRYPT).expect("ok"),
            "我是中文abcd123".as_bytes()
        );
    }

    #[test]
    fn v11_official_secure_example_decrypts_and_reply_matches() {
        let k = key(V11_KEY);
        assert_eq!(k.as_bytes(), &[0u8; 32]);
        assert_eq!(
            msg_signature("AAAAA", "1714112445", "415670741", V11_ENCRYPT),
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
        );
        assert_eq!(
            signature("AAAAA", "1714112445", "415670741"),
            "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
        );
        let dec = decrypt(&k, V11_ENCRYPT).expect("decrypts");
        assert_eq!(&dec.random, b"a8eedb185eb2fecf");
        assert_eq!(dec.msg.len(), 167);
        assert_eq!(
            String::from_utf8(dec.msg).expect("utf8"),
            r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#
        );
        assert_eq!(dec.app_id, V11_APPID.as_bytes());

        let reply = EncryptedReply::seal_with_random(
            "AAAAA",
            &k,
            V11_APPID,
            r#"{"demo_resp":"good luck"}"#,
            1713424427,
            "415670741",
            b"707722b803182950",
        );
        assert_eq!(
            reply.encrypt,
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        );
        assert_eq!(
            reply.msg_signature,
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
        );
        let envelope = xml::parse_fields(reply.to_xml().as_bytes()).expect("envelope parses");
        assert_eq!(envelope.get("Encrypt"), Some(reply.encrypt.as_str()));
        assert_eq!(
            envelope.get("MsgSignature"),
            Some("1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1")
        );
        assert_eq!(envelope.get("TimeStamp"), Some("1713424427"));
        assert_eq!(envelope.get("Nonce"), Some("415670741"));
    }

    #[test]
    fn fresh_randomness_gives_different_ciphertexts_that_decrypt() {
        let k = key(V11_KEY);
        let a = EncryptedReply::seal("AAAAA", &k, V11_APPID, "<xml/>", 1, "n");
        let b = EncryptedReply::seal("AAAAA", &k, V11_APPID, "<xml/>", 1, "n");
        assert_ne!(a.encrypt, b.encrypt);
        assert_eq!(
            decrypt_for(&k, V11_APPID, &a.encrypt).expect("ok"),
            b"<xml/>"
        );
    }

    #[test]
    fn self_made_pad_32_case() {
        // 20 + 26 + 18 = 64: already aligned, so a full block of 32 × 0x20 is appended.
        let k = key(V4_KEY);
        let msg = b"abcdefghijklmnopqrstuvwxyz";
        let enc = encrypt(&k, V4_APPID, msg, b"0123456789abcdef");
        let mut plain = LENIENT_BASE64.decode(&enc).expect("b64");
        assert_eq!(plain.len(), 96);
        CbcDec::new(&k.0.into(), &k.iv().into()).decrypt_blocks(as_blocks(&mut plain));
        assert!(plain[64..].iter().all(|&b| b == 32));
        assert_eq!(decrypt_for(&k, V4_APPID, &enc).expect("ok"), msg);
    }

    #[test]
    fn crypto_failures_have_exact_errors() {
        let k = key(V4_KEY);
        let frame = |msg_len: u32, msg: &[u8], appid: &[u8]| {
            let mut v = b"0123456789abcdef".to_vec();
            v.extend_from_slice(&msg_len.to_be_bytes());
            v.extend_from_slice(msg);
            v.extend_from_slice(appid);
            v
        };
        let pad_with = |mut v: Vec<u8>, pad: u8, fill_to: usize| {
            v.resize(fill_to, pad);
            v
        };

        // Wrong app id.
        assert_eq!(
            decrypt_for(&k, "wx0000000000000000", V4_ENCRYPT),
            Err(WebhookError::AppIdMismatch)
        );
        // Bad base64.
        assert_eq!(decrypt(&k, "not base64!!"), Err(WebhookError::BadBase64));
        assert_eq!(decrypt(&k, "QUJD"), Err(WebhookError::BadCiphertext)); // 3 bytes
        // Empty, truncated, not a multiple of 32.
        assert_eq!(decrypt(&k, ""), Err(WebhookError::BadCiphertext));
        let full = LENIENT_BASE64.decode(V4_ENCRYPT).expect("b64");
        assert_eq!(
            decrypt(&k, &LENIENT_BASE64.encode(&full[..48])),
            Err(WebhookError::BadCiphertext)
        );
        assert_eq!(
            decrypt(&k, &LENIENT_BASE64.encode(&full[..63])),
            Err(WebhookError::BadCiphertext)
        );
        // Truncated to one 32-byte block: pad byte is now garbage or framing fails.
        assert!(matches!(
            decrypt(&k, &LENIENT_BASE64.encode(&full[..32])),
            Err(WebhookError::BadPadding | WebhookError::BadCiphertext)
        ));
        // Pad 0 and pad 33.
        let base = frame(3, b"abc", b"wx");
        assert_eq!(
            decrypt(&k, &raw_encrypt(&k, &pad_with(base.clone(), 0, 32))),
            Err(WebhookError::BadPadding)
        );
        assert_eq!(
            decrypt(&k, &raw_encrypt(&k, &pad_with(base.clone(), 33, 64))),
            Err(WebhookError::BadPadding)
        );
        // Pad bytes not all equal.
        let mut uneven = pad_with(base.clone(), 7, 32);
        uneven[27] = 6;
        assert_eq!(
            decrypt(&k, &raw_encrypt(&k, &uneven)),
            Err(WebhookError::BadPadding)
        );
        // A valid pad again decrypts.
        assert_eq!(
            decrypt(&k, &raw_encrypt(&k, &pad_with(base, 7, 32)))
                .expect("ok")
                .msg,
            b"abc"
        );
        // msg_len beyond the buffer.
        let long = frame(1000, b"abc", b"wx");
        assert_eq!(
            decrypt(&k, &raw_encrypt(&k, &pad_with(long, 7, 32))),
            Err(WebhookError::BadCiphertext)
        );
        let huge = frame(u32::MAX, b"abc", b"wx");
        assert_eq!(
            decrypt(&k, &raw_encrypt(&k, &pad_with(huge, 7, 32))),
            Err(WebhookError::BadCiphertext)
        );
        // Shorter than random + length after unpadding.
        let short = pad_with(b"0123456789".to_vec(), 22, 32);
        assert_eq!(
            decrypt(&k, &raw_encrypt(&k, &short)),
            Err(WebhookError::BadCiphertext)
        );
        // Wrong key: almost always bad padding, otherwise bad framing or app id.
        assert!(decrypt_for(&key(V11_KEY), V4_APPID, V4_ENCRYPT).is_err());
    }

    proptest! {
        #[test]
        fn encrypt_then_decrypt_round_trips(
            msg in proptest::collection::vec(any::<u8>(), 0..2000),
            random in any::<[u8; 16]>(),
            appid in "[a-z0-9]{0,24}",
        ) {
            let k = key(V4_KEY);
            let enc = encrypt(&k, &appid, &msg, &random);
            let dec = decrypt(&k, &enc).expect("round trip");
            prop_assert_eq!(&dec.msg, &msg);
            prop_assert_eq!(dec.app_id, appid.as_bytes());
            prop_assert_eq!(dec.random, random);
        }

        #[test]
        fn utf8_messages_of_every_pad_value_round_trip(text in "\\PC{0,600}", extra in 0usize..32) {
            // `extra` ASCII bytes shift the total length so every pad value 1..=32 is hit.
            let msg = format!("{text}{}", "x".repeat(extra));
            prop_assume!(msg.len() < 2000);
            let k = key(V11_KEY);
            let enc = encrypt(&k, V11_APPID, msg.as_bytes(), &[7u8; 16]);
            prop_assert_eq!(decrypt_for(&k, V11_APPID, &enc).expect("ok"), msg.as_bytes());
        }

        #[test]
        fn any_tampered_encrypt_char_fails_msg_signature(pos in 0usize..V11_ENCRYPT.len(), c in "[A-Za-z0-9+/=]") {
            let mut tampered: Vec<char> = V11_ENCRYPT.chars().collect();
            let c = c.chars().next().expect("one char");
            prop_assume!(tampered[pos] != c);
            tampered[pos] = c;
            let tampered: String = tampered.into_iter().collect();
            prop_assert_eq!(
                crate::channel::verify_sorted_sha1(
                    &["AAAAA", "1714112445", "415670741", &tampered],
                    "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
                ),
                Err(WebhookError::BadSignature)
            );
        }
    }

    #[test]
    fn every_pad_value_is_produced() {
        let k = key(V11_KEY);
        let mut seen = [false; 33];
        for n in 0..64usize {
            let msg = vec![b'a'; n];
            let mut raw = LENIENT_BASE64
                .decode(encrypt(&k, V11_APPID, &msg, &[0; 16]))
                .expect("b64");
            CbcDec::new(&k.0.into(), &k.iv().into()).decrypt_blocks(as_blocks(&mut raw));
            let last = *raw.last().expect("block");
            seen[usize::from(last)] = true;
        }
        assert!(seen[1..].iter().all(|&s| s));
    }
}

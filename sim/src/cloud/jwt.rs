//! JSON Web Tokens as these stand-ins see them: minting tokens whose signature segment is random
//! (the stand-ins remember what they issued, so nobody needs to check it), reading a token's
//! parts, and RS256 verification against a service-account key for Google's JWT grant. Must not
//! decide who is accepted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// A token split into its parts.
pub struct Parts<'a> {
    /// The decoded header.
    pub header: Value,
    /// The decoded claims.
    pub claims: Value,
    /// `<header>.<claims>` as sent: what the signature covers.
    pub signing_input: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A compact JWT of `header` and `claims` with 256 random bytes as its signature.
pub fn mint(header: &Value, claims: &Value) -> String {
    let mut signature = Vec::with_capacity(256);
    while signature.len() < 256 {
        signature.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    format!(
        "{}.{}.{}",
        encode_json(header),
        encode_json(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn decode_json(segment: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

/// The parts of a compact JWT; `None` when it is not one.
pub fn parts(token: &str) -> Option<Parts<'_>> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, claims) = signing_input.split_once('.')?;
    Some(Parts {
        header: decode_json(header)?,
        claims: decode_json(claims)?,
        signing_input,
        signature: URL_SAFE_NO_PAD.decode(signature).ok()?,
    })
}

/// The public key (PKCS#1 `RSAPublicKey` DER) of an RSA private key in PKCS#8 PEM.
pub fn rsa_public_key(pkcs8_pem: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;
    let der = PrivatePkcs8KeyDer::from_pem_slice(pkcs8_pem.as_bytes())
        .map_err(|e| format!("reading the PKCS#8 PEM key: {e}"))?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| format!("the RSA key: {e}"))?;
    Ok(ring::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec())
}

/// The claims of an RS256 JWT whose signature `public_key` verifies; `None` otherwise.
pub fn verify_rs256(token: &str, public_key: &[u8]) -> Option<Value> {
    let parts = parts(token)?;
    if parts.header["alg"] != "RS256" {
        return None;
    }
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    );
    key.verify(parts.signing_input.as_bytes(), &parts.signature)
        .ok()?;
    Some(parts.claims)
}

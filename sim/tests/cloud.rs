//! The cloud stand-ins over real HTTP: GitHub OIDC into AWS STS, Google and Entra; EKS tokens
//! presigned with AWS's own signer and checked as the cluster would; SigV4-signed STS, EKS and
//! AMP requests; the Google JWT grant with the fixture key; and the simulator's API accepting
//! only the bearer tokens an authenticator vouches for.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use canary_gate_sim::cloud::{CloudConfig, CloudHandle, STS_AUDIENCE};
use canary_gate_sim::{Authenticator, Sim, SimConfig};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const KEY_ID: &str = "AKIASTANDIN000000001";
const SECRET: &str = "standin/secret/0123456789abcdefghijklmnop";
const ROLE: &str = "arn:aws:iam::123456789012:role/deployer";
const DENIED_ROLE: &str = "arn:aws:iam::123456789012:role/forbidden";

fn config() -> CloudConfig {
    CloudConfig {
        aws_static: vec![(KEY_ID.into(), SECRET.into())],
        eks_cluster: "prod".into(),
        denied_roles: vec![DENIED_ROLE.into()],
        denied_clients: vec!["denied-client".into()],
        ..CloudConfig::default()
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn post_form(url: &str, pairs: &[(&str, &str)]) -> (u16, String) {
    let resp = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A GitHub OIDC token for `audience`, fetched as the Actions toolkit does.
async fn oidc(cloud: &CloudHandle, audience: &str) -> String {
    let url = format!("{}&audience={}", cloud.oidc_url(), encode(audience));
    let resp = client()
        .get(url)
        .bearer_auth("oidc-request-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["value"].as_str().unwrap().to_string()
}

fn between<'a>(text: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {text}"))
        + open.len();
    let end = text[start..].find(&format!("</{tag}>")).unwrap() + start;
    &text[start..end]
}

/// Signs with AWS's own signer; the identity's type is left to inference.
fn signed(
    creds: Credentials,
    request: SignableRequest<'_>,
    region: &str,
    service: &str,
    time: SystemTime,
    settings: SigningSettings,
) -> aws_sigv4::http_request::SigningInstructions {
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    sign(request, &params).unwrap().into_parts().0
}

/// An EKS token as aws-iam-authenticator clients make it: a presigned STS GetCallerIdentity URL
/// (60 s, `x-k8s-aws-id: <cluster>` signed), base64url without padding, after `k8s-aws-v1.`.
fn eks_token(sts: &str, cluster: &str, creds: Credentials, time: SystemTime) -> String {
    let url = format!("{sts}/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let headers = [("x-k8s-aws-id", cluster)];
    let request =
        SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::Bytes(&[])).unwrap();
    let instructions = signed(creds, request, "us-east-1", "sts", time, settings);
    let mut req = http::Request::get(&url)
        .header("x-k8s-aws-id", cluster)
        .body(())
        .unwrap();
    instructions.apply_to_request_http1x(&mut req);
    format!(
        "k8s-aws-v1.{}",
        URL_SAFE_NO_PAD.encode(req.uri().to_string())
    )
}

/// A header-signed request sent with reqwest: `(status, body)`.
async fn send_signed(
    creds: Credentials,
    method: &str,
    url: &str,
    body: &str,
    (region, service): (&str, &str),
) -> (u16, String) {
    let content_type = "application/x-www-form-urlencoded";
    let headers = [("content-type", content_type)];
    let request = SignableRequest::new(
        method,
        url,
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let instructions = signed(
        creds,
        request,
        region,
        service,
        SystemTime::now(),
        SigningSettings::default(),
    );
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client()
        .request(method, url)
        .header("content-type", content_type)
        .body(body.to_string());
    for (name, value) in instructions.headers() {
        req = req.header(name, value);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn static_creds() -> Credentials {
    Credentials::new(KEY_ID, SECRET, None, None, "test")
}

/// `AssumeRoleWithWebIdentity` by form POST: `(status, body)`.
async fn web_identity(sts: String, role: &str, token: String) -> (u16, String) {
    let pairs = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", "canary-gate"),
        ("WebIdentityToken", token.as_str()),
    ];
    post_form(&format!("{sts}/"), &pairs).await
}

#[tokio::test]
async fn oidc_requires_the_request_token() {
    let cloud = CloudHandle::start(config()).unwrap();
    let url = format!("{}&audience=x", cloud.oidc_url());
    let wrong = client().get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let none = client().get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let token = oidc(&cloud, "some-audience").await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "some-audience");
    assert_eq!(claims["iss"], "https://token.actions.githubusercontent.com");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        300
    );
    assert_eq!(cloud.counts().issued.oidc, 1);
}

#[tokio::test]
async fn sts_web_identity_issues_credentials_and_denies_roles() {
    let cloud = CloudHandle::start(config()).unwrap();
    let token = oidc(&cloud, STS_AUDIENCE).await;
    let request = |role, token: String| web_identity(cloud.sts_url(), role, token);
    let (status, body) = request(ROLE, token.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert!(between(&body, "AccessKeyId").starts_with("ASIA"));
    assert!(between(&body, "Expiration").ends_with('Z'));
    assert!(between(&body, "Arn").contains(":assumed-role/deployer/canary-gate"));
    let (status, body) = request(DENIED_ROLE, token.clone()).await;
    assert_eq!(status, 403);
    assert_eq!(between(&body, "Code"), "AccessDenied");
    assert_eq!(
        between(&body, "Message"),
        "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    );
    let wrong_audience = oidc(&cloud, "api://AzureADTokenExchange").await;
    let (status, body) = request(ROLE, wrong_audience).await;
    assert_eq!(
        (status, between(&body, "Code")),
        (400, "InvalidIdentityToken")
    );
    let (status, _) = request(ROLE, "forged".into()).await;
    assert_eq!(status, 400);
    cloud.register_web_identity_token("file-token");
    let (status, _) = request(ROLE, "file-token".into()).await;
    assert_eq!(status, 200);
    assert_eq!(cloud.counts().issued.sts_web_identity, 2);
}

#[tokio::test]
async fn sts_assume_role_checks_the_signature() {
    let cloud = CloudHandle::start(config()).unwrap();
    let url = format!("{}/", cloud.sts_url());
    let body = form(&[
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE),
        ("RoleSessionName", "chained"),
    ]);
    let scope = ("eu-west-1", "sts");
    let (status, text) = send_signed(static_creds(), "POST", &url, &body, scope).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<AssumeRoleResult>"));
    // The issued session credentials sign too, session token included.
    let session = Credentials::new(
        between(&text, "AccessKeyId"),
        between(&text, "SecretAccessKey"),
        Some(between(&text, "SessionToken").to_string()),
        None,
        "test",
    );
    let (status, text) = send_signed(session, "POST", &url, &body, scope).await;
    assert_eq!(status, 200, "{text}");
    let wrong_secret = Credentials::new(KEY_ID, "not-the-secret", None, None, "test");
    let (status, text) = send_signed(wrong_secret, "POST", &url, &body, scope).await;
    assert_eq!(
        (status, between(&text, "Code")),
        (403, "SignatureDoesNotMatch")
    );
    let unknown = Credentials::new("AKIAUNKNOWN000000000", SECRET, None, None, "test");
    let (status, text) = send_signed(unknown, "POST", &url, &body, scope).await;
    assert_eq!(
        (status, between(&text, "Code")),
        (403, "InvalidClientTokenId")
    );
    let (status, text) =
        post_form(&url, &[("Action", "AssumeRole"), ("Version", "2011-06-15")]).await;
    assert_eq!(
        (status, between(&text, "Code")),
        (403, "MissingAuthenticationToken")
    );
}

#[tokio::test]
async fn eks_tokens_are_checked_as_the_cluster_does() {
    let cloud = CloudHandle::start(CloudConfig {
        eks_token_max_age: Duration::from_secs(30),
        ..config()
    })
    .unwrap();
    let now = SystemTime::now();
    let sts = cloud.sts_url();
    let good = eks_token(&sts, "prod", static_creds(), now);
    let auth = cloud.authenticator();
    assert!(auth.accepts(&good));
    assert!(!auth.accepts(&eks_token(&sts, "staging", static_creds(), now)));
    let old = now - Duration::from_secs(31);
    assert!(!auth.accepts(&eks_token(&sts, "prod", static_creds(), old)));
    let wrong_secret = Credentials::new(KEY_ID, "x", None, None, "test");
    assert!(!auth.accepts(&eks_token(&sts, "prod", wrong_secret, now)));
    let elsewhere = eks_token("http://127.0.0.1:1", "prod", static_creds(), now);
    assert!(!auth.accepts(&elsewhere));
    assert!(!auth.accepts(&good.replace("k8s-aws-v1.", "k8s-aws-v2.")));
    let counts = cloud.counts();
    assert_eq!((counts.bearer_accepted, counts.bearer_rejected), (1, 5));

    // STS answers the same presigned URL, with the header the cluster adds.
    let encoded = good.strip_prefix("k8s-aws-v1.").unwrap();
    let url = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap();
    let resp = client()
        .get(&url)
        .header("x-k8s-aws-id", "prod")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(between(&text, "Account"), "123456789012");
    let other = client()
        .get(&url)
        .header("x-k8s-aws-id", "staging")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
}

#[tokio::test]
async fn eks_tokens_from_web_identity_credentials_are_accepted() {
    let cloud = CloudHandle::start(config()).unwrap();
    let token = oidc(&cloud, STS_AUDIENCE).await;
    let (_, body) = web_identity(cloud.sts_url(), ROLE, token).await;
    let session = Credentials::new(
        between(&body, "AccessKeyId"),
        between(&body, "SecretAccessKey"),
        Some(between(&body, "SessionToken").to_string()),
        None,
        "test",
    );
    let eks = eks_token(&cloud.sts_url(), "prod", session, SystemTime::now());
    assert!(cloud.accepts(&eks));
}

#[tokio::test]
async fn describe_cluster_is_signed_for_eks() {
    let cloud = CloudHandle::start(CloudConfig {
        eks_endpoint: "https://127.0.0.1:6443".into(),
        eks_ca_data: "Q0E=".into(),
        ..config()
    })
    .unwrap();
    let scope = ("us-west-2", "eks");
    let url = format!("{}/clusters/prod", cloud.eks_url());
    let (status, text) = send_signed(static_creds(), "GET", &url, "", scope).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["cluster"]["endpoint"], "https://127.0.0.1:6443");
    assert_eq!(body["cluster"]["certificateAuthority"]["data"], "Q0E=");
    assert_eq!(
        body["cluster"]["arn"],
        "arn:aws:eks:us-west-2:123456789012:cluster/prod"
    );
    let missing = format!("{}/clusters/x", cloud.eks_url());
    let (status, text) = send_signed(static_creds(), "GET", &missing, "", scope).await;
    assert_eq!(
        (status, text.as_str()),
        (404, r#"{"message":"No cluster found for name: x."}"#)
    );
    let (status, _) = send_signed(static_creds(), "GET", &url, "", ("us-west-2", "sts")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn amp_forwards_signed_queries_to_prometheus() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let cloud = CloudHandle::start(CloudConfig {
        prometheus_upstream: Some(sim.prometheus_url()),
        amp_region: "eu-central-1".into(),
        ..config()
    })
    .unwrap();
    let url = format!(
        "{}/workspaces/ws-1/api/v1/query?query=vector%281%29",
        cloud.amp_url()
    );
    let (status, text) =
        send_signed(static_creds(), "GET", &url, "", ("eu-central-1", "aps")).await;
    let direct = client()
        .get(format!(
            "{}/api/v1/query?query=vector%281%29",
            sim.prometheus_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status().as_u16(), status);
    assert_eq!(direct.text().await.unwrap(), text);
    assert_eq!(cloud.counts().amp_forwarded, 1);
    let (status, text) = send_signed(static_creds(), "GET", &url, "", ("us-east-1", "aps")).await;
    assert_eq!(status, 403, "{text}");
    let unsigned = client().get(&url).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    let wrong = Credentials::new(KEY_ID, "x", None, None, "test");
    let (status, text) = send_signed(wrong, "GET", &url, "", ("eu-central-1", "aps")).await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["message"],
        "The request signature we calculated does not match the signature you provided."
    );
    assert_eq!(cloud.counts().amp_forwarded, 1);
}

const POOL: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/github/providers/repo";

#[tokio::test]
async fn google_federation_then_impersonation() {
    let cloud = CloudHandle::start(CloudConfig {
        denied_service_accounts: vec!["nope@p.iam.gserviceaccount.com".into()],
        ..config()
    })
    .unwrap();
    let subject = oidc(&cloud, &format!("https:{POOL}")).await;
    let exchange = |audience: &'static str, subject: String| {
        let url = format!("{}/v1/token", cloud.google_sts_url());
        async move {
            let pairs = [
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("audience", audience),
                ("scope", "https://www.googleapis.com/auth/cloud-platform"),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("subject_token", subject.as_str()),
            ];
            post_form(&url, &pairs).await
        }
    };
    let (status, text) = exchange(POOL, subject.clone()).await;
    assert_eq!(status, 200, "{text}");
    let federated: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(federated["expires_in"], 3600);
    let federated = federated["access_token"].as_str().unwrap().to_string();
    let denied_pool = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/github/providers/denied";
    let (status, text) = exchange(
        denied_pool,
        oidc(&cloud, &format!("https:{denied_pool}")).await,
    )
    .await;
    assert_eq!(status, 403, "{text}");
    let (status, text) = exchange(POOL, oidc(&cloud, STS_AUDIENCE).await).await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap()["error"].clone()
        ),
        (400, json!("invalid_grant"))
    );

    let generate = |email: &str, bearer: &str| {
        let url = format!(
            "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
            cloud.google_iam_url()
        );
        client()
            .post(url)
            .bearer_auth(bearer)
            .json(&json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"}))
            .send()
    };
    let resp = generate("deployer@p.iam.gserviceaccount.com", &federated)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let impersonated = body["accessToken"].as_str().unwrap();
    assert!(body["expireTime"].as_str().unwrap().ends_with('Z'));
    let resp = generate("nope@p.iam.gserviceaccount.com", &federated)
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
    let resp = generate("deployer@p.iam.gserviceaccount.com", "ya29.forged")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(cloud.accepts(impersonated) && cloud.accepts(&federated));
    assert!(!cloud.accepts("ya29.forged"));
}

#[tokio::test]
async fn google_tokens_expire() {
    let cloud = CloudHandle::start(CloudConfig {
        access_token_ttl: Duration::from_millis(1500),
        ..config()
    })
    .unwrap();
    let subject = oidc(&cloud, &format!("https:{POOL}")).await;
    let pairs = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("audience", POOL),
        ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        ("subject_token", subject.as_str()),
    ];
    let (status, text) = post_form(&format!("{}/v1/token", cloud.google_sts_url()), &pairs).await;
    assert_eq!(status, 200, "{text}");
    let token = serde_json::from_str::<Value>(&text).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cloud.accepts(&token));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(!cloud.accepts(&token));
}

fn fixture_key() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/cloud/google-sa-test-key.pem"
    );
    std::fs::read_to_string(path).unwrap()
}

/// A JWT grant assertion signed with the fixture key.
fn assertion(claims: &Value) -> String {
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;
    let der = PrivatePkcs8KeyDer::from_pem_slice(fixture_key().as_bytes()).unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"fixture"}"#);
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn the_jwt_grant_needs_the_service_account_key() {
    let email = "sa@standin.iam.gserviceaccount.com";
    let cloud = CloudHandle::start(CloudConfig {
        google_sa_key_pem: Some(fixture_key()),
        google_sa_email: email.into(),
        ..config()
    })
    .unwrap();
    let token_url = format!("{}/token", cloud.google_oauth_url());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": email, "aud": token_url, "iat": now, "exp": now + 3600,
                        "scope": "https://www.googleapis.com/auth/cloud-platform"});
    let grant = |jwt: String| {
        let url = token_url.clone();
        async move {
            let pairs = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", jwt.as_str()),
            ];
            post_form(&url, &pairs).await
        }
    };
    let signed = assertion(&claims);
    let (status, text) = grant(signed.clone()).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (body["token_type"].clone(), body["expires_in"].clone()),
        (json!("Bearer"), json!(3600))
    );
    assert!(cloud.accepts(body["access_token"].as_str().unwrap()));

    let mut forged = claims.clone();
    forged["iss"] = json!("someone-else@standin.iam.gserviceaccount.com");
    let (sig_input, signature) = signed.rsplit_once('.').unwrap();
    let header = sig_input.split('.').next().unwrap();
    let tampered = format!(
        "{header}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(forged.to_string())
    );
    let (status, text) = grant(tampered).await;
    assert_eq!(status, 400);
    assert_eq!(
        text,
        r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#
    );
    let mut long = claims.clone();
    long["exp"] = json!(now + 7200);
    let (status, _) = grant(assertion(&long)).await;
    assert_eq!(status, 400);
    let mut elsewhere = claims.clone();
    elsewhere["aud"] = json!("https://oauth2.googleapis.com/token");
    let (status, _) = grant(assertion(&elsewhere)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn entra_federated_credentials_for_aks() {
    let cloud = CloudHandle::start(config()).unwrap();
    let assertion = oidc(&cloud, "api://AzureADTokenExchange").await;
    let url = format!("{}tenant-1/oauth2/v2.0/token", cloud.entra_url());
    let request = |client_id: &'static str, scope: &'static str, assertion: String| {
        let url = url.clone();
        async move {
            let pairs = [
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("scope", scope),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ];
            post_form(&url, &pairs).await
        }
    };
    let aks = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";
    let (status, text) = request("client-1", aks, assertion.clone()).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["expires_in"], body["ext_expires_in"]);
    assert!(cloud.accepts(body["access_token"].as_str().unwrap()));
    let (status, text) = request(
        "client-1",
        "https://management.azure.com/.default",
        assertion.clone(),
    )
    .await;
    assert_eq!(status, 200);
    let other: Value = serde_json::from_str(&text).unwrap();
    assert!(!cloud.accepts(other["access_token"].as_str().unwrap()));
    let (status, text) = request("denied-client", aks, assertion.clone()).await;
    assert_eq!(status, 401);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (body["error"].clone(), body["error_codes"].clone()),
        (json!("invalid_client"), json!([700213]))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("'repo:canary-gate/demo:ref:refs/heads/main'")
    );
    let (status, _) = request("client-1", aks, oidc(&cloud, STS_AUDIENCE).await).await;
    assert_eq!(status, 401);
}

async fn list_status(api_url: &str, bearer: Option<&str>) -> u16 {
    let mut req = client().get(format!("{api_url}/api/v1/namespaces/default/configmaps"));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_api_accepts_what_the_authenticator_accepts() {
    let sim = Sim::start(SimConfig {
        token: Some("bad".into()),
        authenticator: Some(Authenticator::new(|t| t == "good")),
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(list_status(&sim.api_url, Some("good")).await, 200);
    assert_eq!(list_status(&sim.api_url, Some("bad")).await, 401);
    assert_eq!(list_status(&sim.api_url, None).await, 401);
}

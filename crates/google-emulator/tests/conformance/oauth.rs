//! OAuth 2.0 / OpenID Connect: discovery, consent, code exchange with PKCE, refresh, revocation,
//! the JWT-bearer grant, JWKS-verifiable ID tokens.

use crate::support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use google_emulator::keys;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::*;

const REDIRECT: &str = "http://localhost:8080/auth/callback";

fn http() -> reqwest::Client {
    http_client(false)
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// Runs the authorization step for `email` and returns the redirect's query parameters.
async fn authorize(
    emu: &google_emulator::RunningEmulator,
    email: &str,
    scope: &str,
    extra: &[(&str, &str)],
    challenge: &str,
) -> Vec<(String, String)> {
    let mut params = vec![
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", scope),
        ("state", "st4te"),
        ("nonce", "n0nce"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("access_type", "offline"),
        ("login_hint", email),
        ("hd", DOMAIN),
    ];
    params.extend_from_slice(extra);
    let response = http()
        .get(format!("{}o/oauth2/v2/auth", emu.url()))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    location
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn token(emu: &google_emulator::RunningEmulator, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(format!("{}token", emu.url()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn verify_id_token(emu: &google_emulator::RunningEmulator, jwt: &str) -> Value {
    let jwks: Value = http()
        .get(format!("{}oauth2/v3/certs", emu.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (header, _) = keys::decode_unverified(jwt).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )
    .unwrap();
    keys::verify(jwt, &key).unwrap()
}

#[tokio::test]
async fn discovery_points_at_the_emulators_own_endpoints() {
    let emu = emulator(0).await;
    let d: Value = http()
        .get(format!("{}.well-known/openid-configuration", emu.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], emu.url().trim_end_matches('/'));
    assert_eq!(d["token_endpoint"], format!("{}token", emu.url()));
    assert_eq!(
        d["authorization_endpoint"],
        format!("{}o/oauth2/v2/auth", emu.url())
    );
    assert_eq!(d["jwks_uri"], format!("{}oauth2/v3/certs", emu.url()));
    assert!(
        d["code_challenge_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("S256"))
    );
}

#[tokio::test]
async fn sign_in_with_pkce_gives_tokens_and_a_verifiable_id_token() {
    let emu = emulator(0).await;
    let pkce = pkce();
    let scope = TEACHER_SCOPES.join(" ");
    let redirect = authorize(&emu, TEACHER, &scope, &[], &pkce.challenge).await;
    assert_eq!(param(&redirect, "state"), Some("st4te"));
    assert_eq!(param(&redirect, "hd"), Some(DOMAIN));
    let code = param(&redirect, "code").unwrap().to_owned();

    let (status, tokens) = token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(
        tokens["refresh_token"].is_string(),
        "offline access on first consent"
    );
    // Google's long names for the basic scopes, as its token endpoint answers.
    let granted: std::collections::BTreeSet<&str> =
        tokens["scope"].as_str().unwrap().split(' ').collect();
    assert_eq!(granted.len(), TEACHER_SCOPES.len(), "{granted:?}");
    assert!(granted.contains("openid"));
    assert!(granted.contains("https://www.googleapis.com/auth/userinfo.email"));
    assert!(granted.contains("https://www.googleapis.com/auth/userinfo.profile"));
    assert!(!granted.contains("email") && !granted.contains("profile"));

    let claims = verify_id_token(&emu, tokens["id_token"].as_str().unwrap()).await;
    let user = emu.user(TEACHER).unwrap();
    assert_eq!(claims["iss"], emu.url().trim_end_matches('/'));
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["sub"], user.id);
    assert_eq!(claims["email"], TEACHER);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["hd"], DOMAIN);
    assert_eq!(claims["nonce"], "n0nce");
    assert!(claims["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());

    // The access token works on the APIs it was granted for.
    let hub = classroom(&emu, tokens["access_token"].as_str().unwrap());
    hub.courses().list().teacher_id("me").doit().await.unwrap();

    // A code is single use.
    let (status, again) = token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_wrong_verifier_secret_or_redirect_is_refused() {
    let emu = emulator(0).await;
    let pkce = pkce();
    for (form_override, expected) in [
        (("code_verifier", "wrong-verifier"), "invalid_grant"),
        (
            ("redirect_uri", "http://localhost:8080/elsewhere"),
            "invalid_grant",
        ),
    ] {
        let redirect = authorize(&emu, TEACHER, "openid email", &[], &pkce.challenge).await;
        let code = param(&redirect, "code").unwrap().to_owned();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", pkce.verifier.as_str()),
        ];
        form.retain(|(k, _)| *k != form_override.0);
        form.push(form_override);
        let (status, body) = token(&emu, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(expected)),
            "{form_override:?}"
        );
    }
    let response = http()
        .post(format!("{}token", emu.url()))
        .basic_auth(CLIENT_ID, Some("not-the-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, body) = token(&emu, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    // An unregistered redirect URI gets Google's own error page, not a redirect.
    let response = http()
        .get(format!("{}o/oauth2/v2/auth", emu.url()))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", "https://evil.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("redirect_uri_mismatch")
    );
}

#[tokio::test]
async fn refresh_then_revocation_means_invalid_grant() {
    let emu = emulator(0).await;
    let pkce = pkce();
    let redirect = authorize(
        &emu,
        TEACHER,
        &TEACHER_SCOPES.join(" "),
        &[],
        &pkce.challenge,
    )
    .await;
    let code = param(&redirect, "code").unwrap().to_owned();
    let (_, tokens) = token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    emu.expire_access_tokens();
    let hub = classroom(&emu, tokens["access_token"].as_str().unwrap());
    assert!(
        hub.courses().list().doit().await.is_err(),
        "expired access token"
    );
    let (status, refreshed) = token(
        &emu,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(refreshed.get("refresh_token").is_none());
    let hub = classroom(&emu, refreshed["access_token"].as_str().unwrap());
    hub.courses().list().doit().await.unwrap();

    // The teacher removes the app's access.
    assert!(emu.revoke_user(TEACHER) > 0);
    let (status, body) = token(
        &emu,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        hub.courses().list().doit().await.is_err(),
        "its access tokens went too"
    );
}

#[tokio::test]
async fn the_revocation_endpoint_revokes_a_refresh_token() {
    let emu = emulator(0).await;
    let pkce = pkce();
    let redirect = authorize(&emu, TEACHER, "openid email", &[], &pkce.challenge).await;
    let (_, tokens) = token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", param(&redirect, "code").unwrap()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let revoked = http()
        .post(format!("{}revoke", emu.url()))
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, body) = token(
        &emu,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let again = http()
        .post(format!("{}revoke", emu.url()))
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn granular_consent_and_incremental_authorisation() {
    let emu = emulator(0).await;
    // The teacher unticks the Drive scope on the consent page.
    emu.update_settings(|s| {
        s.declined_scopes.insert(
            TEACHER.to_owned(),
            [DRIVE_SCOPE.to_owned()].into_iter().collect(),
        );
    });
    let pkce = pkce();
    let wanted = format!("openid email {DRIVE_SCOPE}");
    let redirect = authorize(&emu, TEACHER, &wanted, &[], &pkce.challenge).await;
    let (_, first) = token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", param(&redirect, "code").unwrap()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert!(
        !first["scope"].as_str().unwrap().contains(DRIVE_SCOPE),
        "{first}"
    );
    assert!(first["refresh_token"].is_string());

    // Asking again without prompt=consent: no new refresh token.
    emu.update_settings(|s| s.declined_scopes.clear());
    let redirect = authorize(
        &emu,
        TEACHER,
        DRIVE_SCOPE,
        &[("include_granted_scopes", "true")],
        &pkce.challenge,
    )
    .await;
    let (_, second) = token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", param(&redirect, "code").unwrap()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert!(second.get("refresh_token").is_none());
    let scopes = second["scope"].as_str().unwrap();
    assert!(
        scopes.contains(DRIVE_SCOPE) && scopes.contains("openid"),
        "union: {scopes}"
    );

    // With prompt=consent a new refresh token is issued.
    let redirect = authorize(
        &emu,
        TEACHER,
        DRIVE_SCOPE,
        &[("prompt", "consent")],
        &pkce.challenge,
    )
    .await;
    let (_, third) = token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", param(&redirect, "code").unwrap()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert!(third["refresh_token"].is_string());
}

#[tokio::test]
async fn the_consent_page_lets_a_person_pick_an_account_and_untick_scopes() {
    let emu = emulator(1).await;
    emu.update_settings(|s| s.auto_consent = false);
    let pkce = pkce();
    let page = http()
        .get(format!("{}o/oauth2/v2/auth", emu.url()))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", &format!("openid email {DRIVE_SCOPE}")),
            ("state", "s"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("hd", DOMAIN),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(TEACHER) && html.contains(OPERATOR));
    assert!(html.contains(DRIVE_SCOPE), "optional scopes get a checkbox");
    // The form posts where a browser would send it: its action resolved against the page.
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let page_url = url::Url::parse(&format!("{}o/oauth2/v2/auth", emu.url())).unwrap();
    assert_eq!(
        page_url.join(action).unwrap().path(),
        "/o/oauth2/v2/auth/approve",
        "the consent form must post to the approve route"
    );
    // Submit the form for the teacher with the Drive box unticked.
    let request = html
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&#39;", "'");
    let approved = http()
        .post(format!("{}o/oauth2/v2/auth/approve", emu.url()))
        .form(&[
            ("email", TEACHER),
            ("request", &request),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 302);
    let location = approved.headers()["location"].to_str().unwrap().to_owned();
    let scope = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .unwrap()
        .1
        .into_owned();
    assert!(
        !scope.contains(DRIVE_SCOPE) && scope.contains("openid"),
        "{scope}"
    );

    let denied = http()
        .post(format!("{}o/oauth2/v2/auth/approve", emu.url()))
        .form(&[
            ("email", TEACHER),
            ("request", &request),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        denied.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=access_denied")
    );
}

#[tokio::test]
async fn a_service_account_signs_in_with_a_jwt_assertion() {
    let emu = emulator(0).await;
    let sa = "drive-robot@invigilator-emulator.iam.gserviceaccount.com";
    emu.add_service_account(sa, Some(CLIENT_ID));
    emu.create_shared_drive(
        Some("0ARobotDrive".into()),
        "Robot",
        &[(sa.to_owned(), google_emulator::Role::Organizer)],
    );
    let key_file = emu.service_account_key_file(sa).unwrap();
    assert_eq!(key_file["type"], "service_account");
    assert!(
        key_file["private_key"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );

    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": sa,
        "scope": DRIVE_SCOPE,
        "aud": key_file["token_uri"],
        "iat": now,
        "exp": now + 3600,
    });
    let assertion = emu.sign_assertion(sa, &claims).unwrap();
    let (status, body) = token(
        &emu,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    let hub = drive(&emu, body["access_token"].as_str().unwrap());
    hub.files()
        .get("0ARobotDrive")
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap();

    // Signed by another key, or too long-lived: refused.
    let other = keys::KeyPair::generate().sign(&claims);
    let long = emu
        .sign_assertion(sa, &json!({"iss": sa, "scope": DRIVE_SCOPE, "aud": key_file["token_uri"], "iat": now, "exp": now + 7200}))
        .unwrap();
    for bad in [other, long, "not.a.jwt".to_owned()] {
        let (status, body) = token(
            &emu,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &bad),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn userinfo_answers_for_the_tokens_user() {
    let emu = emulator(0).await;
    let token = teacher_token(&emu);
    let info: Value = http()
        .get(format!("{}v1/userinfo", emu.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], TEACHER);
    assert_eq!(info["hd"], DOMAIN);
    assert_eq!(info["given_name"], "Ada");
    let missing = http()
        .get(format!("{}v1/userinfo", emu.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
}

#[tokio::test]
async fn asking_for_the_userinfo_scopes_grants_openid_under_long_names() {
    let emu = emulator(0).await;
    let pkce = pkce();
    let redirect = authorize(&emu, TEACHER, "email profile", &[], &pkce.challenge).await;
    let set = |scopes: &str| -> std::collections::BTreeSet<String> {
        scopes.split(' ').map(str::to_owned).collect()
    };
    let expected = set("openid https://www.googleapis.com/auth/userinfo.email \
                        https://www.googleapis.com/auth/userinfo.profile");
    assert_eq!(set(param(&redirect, "scope").unwrap()), expected);
    let code = param(&redirect, "code").unwrap().to_owned();
    let (status, tokens) = token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(set(tokens["scope"].as_str().unwrap()), expected);
    // openid was implied, so there is an ID token with the email in it.
    let claims = verify_id_token(&emu, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["email"], TEACHER);
    assert_eq!(claims["name"], "Ada Lovelace");

    // A refresh narrowed with the short name is the same grant.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, narrowed) = token(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "email"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(
        set(narrowed["scope"].as_str().unwrap()),
        set("openid https://www.googleapis.com/auth/userinfo.email")
    );
}

//! OAuth 2.0 and OpenID Connect as Google serves them: discovery, the authorization (consent)
//! page, the token endpoint (authorization code with PKCE, refresh token, JWT bearer),
//! revocation, JWKS and userinfo.

use std::collections::BTreeSet;

use axum::Form;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{Caller, scope};
use crate::emulator::Emulator;
use crate::error::{GoogleError, OAuthError};
use crate::keys;
use crate::tokens::{AuthCode, Principal, random_token};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// `GET /.well-known/openid-configuration`
pub async fn discovery(State(emu): State<Emulator>) -> Json<Value> {
    let base = emu.base_url();
    Json(json!({
        "issuer": emu.issuer(),
        "authorization_endpoint": format!("{base}o/oauth2/v2/auth"),
        "device_authorization_endpoint": format!("{base}device/code"),
        "token_endpoint": format!("{base}token"),
        "userinfo_endpoint": format!("{base}v1/userinfo"),
        "revocation_endpoint": format!("{base}revoke"),
        "jwks_uri": format!("{base}oauth2/v3/certs"),
        "response_types_supported": [
            "code", "token", "id_token", "code token", "code id_token",
            "token id_token", "code token id_token", "none"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud", "email", "email_verified", "exp", "family_name", "given_name",
            "iat", "iss", "name", "picture", "sub"
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": [
            "authorization_code", "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code", JWT_BEARER
        ]
    }))
}

/// `GET /oauth2/v3/certs`
pub async fn jwks(State(emu): State<Emulator>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "public, max-age=3600")],
        Json(json!({"keys": [emu.signing_key().jwk()]})),
    )
}

/// The authorization request's parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub access_type: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub hd: Option<String>,
    pub include_granted_scopes: Option<String>,
}

/// `GET /o/oauth2/v2/auth`: the consent page, or with auto-consent and a `login_hint`, a
/// redirect straight back with a code.
pub async fn authorize(State(emu): State<Emulator>, Query(p): Query<AuthorizeParams>) -> Response {
    if let Some(page) = refuse_client_or_redirect(&emu, &p) {
        return page;
    }
    if p.response_type != "code" {
        return redirect_error(&p, "unsupported_response_type");
    }
    let requested = scopes_of(&p.scope);
    if requested.is_empty() {
        return redirect_error(&p, "invalid_request");
    }
    if let Some(method) = p.code_challenge_method.as_deref()
        && !matches!(method, "S256" | "plain")
    {
        return redirect_error(&p, "invalid_request");
    }
    let hinted = p
        .login_hint
        .as_deref()
        .and_then(|hint| emu.user(hint))
        .filter(|_| emu.settings().auto_consent);
    match hinted {
        Some(user) => {
            let declined = emu
                .settings()
                .declined_scopes
                .get(&user.email)
                .cloned()
                .unwrap_or_default();
            let granted = requested
                .iter()
                .filter(|s| scope::BASIC.contains(&s.as_str()) || !declined.contains(*s))
                .cloned()
                .collect();
            grant_code(&emu, &p, &user.email, granted)
        }
        None => consent_page(&emu, &p, &requested),
    }
}

/// `POST /o/oauth2/v2/auth/approve` (form). Accepts repeated `granted` fields.
pub async fn approve(State(emu): State<Emulator>, body: String) -> Response {
    let mut email = String::new();
    let mut decision = String::new();
    let mut request = String::new();
    let mut ticked = BTreeSet::new();
    for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
        match k.as_ref() {
            "email" => email = v.into_owned(),
            "decision" => decision = v.into_owned(),
            "request" => request = v.into_owned(),
            "granted" => {
                ticked.insert(v.into_owned());
            }
            _ => {}
        }
    }
    let Ok(p) = serde_json::from_str::<AuthorizeParamsWire>(&request).map(AuthorizeParams::from)
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The consent form was altered.",
        );
    };
    if let Some(page) = refuse_client_or_redirect(&emu, &p) {
        return page;
    }
    if decision != "allow" {
        return redirect_error(&p, "access_denied");
    }
    if emu.user(&email).is_none() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Unknown account.",
        );
    }
    let granted = scopes_of(&p.scope)
        .into_iter()
        .filter(|s| scope::BASIC.contains(&s.as_str()) || ticked.contains(s))
        .collect();
    grant_code(&emu, &p, &email, granted)
}

/// [`AuthorizeParams`] as the consent form carries it.
#[derive(Debug, serde::Serialize, Deserialize)]
struct AuthorizeParamsWire {
    client_id: String,
    redirect_uri: String,
    response_type: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    access_type: Option<String>,
    prompt: Option<String>,
    login_hint: Option<String>,
    hd: Option<String>,
    include_granted_scopes: Option<String>,
}

impl From<AuthorizeParamsWire> for AuthorizeParams {
    fn from(w: AuthorizeParamsWire) -> Self {
        Self {
            client_id: w.client_id,
            redirect_uri: w.redirect_uri,
            response_type: w.response_type,
            scope: w.scope,
            state: w.state,
            nonce: w.nonce,
            code_challenge: w.code_challenge,
            code_challenge_method: w.code_challenge_method,
            access_type: w.access_type,
            prompt: w.prompt,
            login_hint: w.login_hint,
            hd: w.hd,
            include_granted_scopes: w.include_granted_scopes,
        }
    }
}

impl From<&AuthorizeParams> for AuthorizeParamsWire {
    fn from(p: &AuthorizeParams) -> Self {
        Self {
            client_id: p.client_id.clone(),
            redirect_uri: p.redirect_uri.clone(),
            response_type: p.response_type.clone(),
            scope: p.scope.clone(),
            state: p.state.clone(),
            nonce: p.nonce.clone(),
            code_challenge: p.code_challenge.clone(),
            code_challenge_method: p.code_challenge_method.clone(),
            access_type: p.access_type.clone(),
            prompt: p.prompt.clone(),
            login_hint: p.login_hint.clone(),
            hd: p.hd.clone(),
            include_granted_scopes: p.include_granted_scopes.clone(),
        }
    }
}

fn scopes_of(s: &str) -> BTreeSet<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// The error page for a request Google will not redirect back for (unknown client, or a redirect
/// URI it does not trust), or `None` when both are fine.
fn refuse_client_or_redirect(emu: &Emulator, p: &AuthorizeParams) -> Option<Response> {
    let dir = emu.directory();
    let Some(client) = dir.clients.get(&p.client_id) else {
        return Some(error_page(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        ));
    };
    let redirect_ok = url::Url::parse(&p.redirect_uri).is_ok()
        && (client.redirect_uris.is_empty() || client.redirect_uris.contains(&p.redirect_uri));
    (!redirect_ok).then(|| {
        error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "The redirect URI in the request does not match the ones authorized for the OAuth client.",
        )
    })
}

fn error_page(status: StatusCode, error: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>\
         <body><h1>Access blocked: authorisation error</h1><p>{}</p><p>Error {}: {}</p></body></html>",
        html_escape(message),
        status.as_u16(),
        html_escape(error)
    );
    (status, Html(body)).into_response()
}

fn redirect(url: url::Url) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

fn redirect_error(p: &AuthorizeParams, error: &str) -> Response {
    let Ok(mut url) = url::Url::parse(&p.redirect_uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Bad redirect URI.",
        );
    };
    url.query_pairs_mut().append_pair("error", error);
    if let Some(state) = &p.state {
        url.query_pairs_mut().append_pair("state", state);
    }
    redirect(url)
}

/// Records consent and redirects back with a one-time code.
fn grant_code(
    emu: &Emulator,
    p: &AuthorizeParams,
    email: &str,
    granted: BTreeSet<String>,
) -> Response {
    let Some(user) = emu.user(email) else {
        return redirect_error(p, "access_denied");
    };
    let key = (p.client_id.clone(), user.id.clone());
    let code = random_token("4/0emu-", 48);
    let scopes = {
        let mut tokens = emu.tokens();
        let first_consent = !tokens.grants.contains_key(&key);
        let mut scopes = scope::as_granted(granted);
        if p.include_granted_scopes.as_deref() == Some("true")
            && let Some(previous) = tokens.grants.get(&key)
        {
            scopes.extend(previous.iter().cloned());
        }
        tokens
            .grants
            .entry(key)
            .or_default()
            .extend(scopes.iter().cloned());
        let offline = p.access_type.as_deref() == Some("offline");
        let forced = p
            .prompt
            .as_deref()
            .is_some_and(|pr| pr.split(' ').any(|x| x == "consent"));
        tokens.codes.insert(
            code.clone(),
            AuthCode {
                client_id: p.client_id.clone(),
                redirect_uri: p.redirect_uri.clone(),
                user_id: user.id.clone(),
                scopes: scopes.clone(),
                nonce: p.nonce.clone(),
                code_challenge: p.code_challenge.clone().map(|c| {
                    (
                        c,
                        p.code_challenge_method
                            .clone()
                            .unwrap_or_else(|| "plain".to_owned()),
                    )
                }),
                // Google issues a refresh token on first consent, or when consent is forced.
                issue_refresh_token: offline && (first_consent || forced),
                expires: Utc::now() + Duration::minutes(10),
            },
        );
        scopes
    };
    let Ok(mut url) = url::Url::parse(&p.redirect_uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Bad redirect URI.",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        if let Some(state) = &p.state {
            q.append_pair("state", state);
        }
        q.append_pair("code", &code);
        q.append_pair(
            "scope",
            &scopes.iter().cloned().collect::<Vec<_>>().join(" "),
        );
        q.append_pair("authuser", "0");
        if let Some(hd) = &user.hosted_domain {
            q.append_pair("hd", hd);
        }
        q.append_pair("prompt", "consent");
    }
    redirect(url)
}

fn consent_page(emu: &Emulator, p: &AuthorizeParams, requested: &BTreeSet<String>) -> Response {
    let request = serde_json::to_string(&AuthorizeParamsWire::from(p)).unwrap_or_default();
    let users: Vec<_> = {
        let dir = emu.directory();
        let mut users: Vec<_> = dir
            .users
            .values()
            .filter(|u| {
                p.hd.as_deref()
                    .is_none_or(|hd| u.hosted_domain.as_deref() == Some(hd))
            })
            .cloned()
            .collect();
        users.sort_by(|a, b| a.email.cmp(&b.email));
        users
    };
    let optional: Vec<&String> = requested
        .iter()
        .filter(|s| !scope::BASIC.contains(&s.as_str()))
        .collect();
    let mut body = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign in – Google Accounts (emulator)</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}\
         form{border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}\
         button{padding:.5rem 1rem;margin-right:.5rem}</style></head><body>\
         <h1>Choose an account</h1>",
    );
    body.push_str(&format!(
        "<p>to continue to <strong>{}</strong></p>",
        html_escape(&p.client_id)
    ));
    if users.is_empty() {
        body.push_str("<p>No accounts in this domain.</p>");
    }
    for u in users {
        // An absolute path: relative to `/o/oauth2/v2/auth`, "approve" would resolve to
        // `/o/oauth2/v2/approve`, which is not a route.
        body.push_str("<form method=\"post\" action=\"/o/oauth2/v2/auth/approve\">");
        body.push_str(&format!(
            "<h2>{} <small>{}</small></h2>",
            html_escape(&u.full_name()),
            html_escape(&u.email)
        ));
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"email\" value=\"{}\">\
             <input type=\"hidden\" name=\"request\" value=\"{}\">",
            html_escape(&u.email),
            html_escape(&request)
        ));
        if !optional.is_empty() {
            body.push_str("<fieldset><legend>Allow access to</legend>");
            for s in &optional {
                body.push_str(&format!(
                    "<label><input type=\"checkbox\" name=\"granted\" value=\"{0}\" checked> {0}</label><br>",
                    html_escape(s)
                ));
            }
            body.push_str("</fieldset>");
        }
        body.push_str(
            "<p><button name=\"decision\" value=\"allow\">Continue</button>\
             <button name=\"decision\" value=\"deny\">Cancel</button></p></form>",
        );
    }
    body.push_str("</body></html>");
    Html(body).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The token request's form fields.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    pub grant_type: String,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub assertion: Option<String>,
    pub scope: Option<String>,
}

/// `POST /token`
pub async fn token(
    State(emu): State<Emulator>,
    headers: HeaderMap,
    Form(req): Form<TokenRequest>,
) -> Result<Response, OAuthError> {
    let response = match req.grant_type.as_str() {
        "authorization_code" => exchange_code(&emu, &headers, &req)?,
        "refresh_token" => refresh(&emu, &headers, &req)?,
        JWT_BEARER => jwt_bearer(&emu, &req)?,
        "" => {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: grant_type",
            ));
        }
        _ => return Err(OAuthError::unsupported_grant_type()),
    };
    Ok((
        [(
            CACHE_CONTROL,
            "no-cache, no-store, max-age=0, must-revalidate",
        )],
        Json(response),
    )
        .into_response())
}

/// Client id and secret from HTTP Basic (`client_secret_basic`) or the form (`_post`).
fn client_credentials(
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<(String, String), OAuthError> {
    if let Some(basic) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::invalid_client("Malformed Basic credentials."))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("Malformed Basic credentials."))?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Ok((unescape(id), unescape(secret)));
    }
    match (&req.client_id, &req.client_secret) {
        (Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
        (Some(_), None) => Err(OAuthError::invalid_request("client_secret is missing.")),
        _ => Err(OAuthError::invalid_request(
            "Could not determine client ID from request.",
        )),
    }
}

fn authenticate_client(
    emu: &Emulator,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<String, OAuthError> {
    let (id, secret) = client_credentials(headers, req)?;
    let dir = emu.directory();
    match dir.clients.get(&id) {
        Some(c) if c.client_secret == secret => Ok(id),
        Some(_) => Err(OAuthError::invalid_client("Unauthorized")),
        None => Err(OAuthError::invalid_client(
            "The OAuth client was not found.",
        )),
    }
}

fn exchange_code(
    emu: &Emulator,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Value, OAuthError> {
    let client_id = authenticate_client(emu, headers, req)?;
    let code = req
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: code"))?;
    // Codes are single use: removed whatever happens next.
    let grant = emu
        .tokens()
        .codes
        .remove(code)
        .filter(|g| g.expires > Utc::now())
        .ok_or_else(|| OAuthError::invalid_grant("Malformed auth code."))?;
    if grant.client_id != client_id {
        return Err(OAuthError::invalid_grant("Malformed auth code."));
    }
    if req.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant("redirect_uri_mismatch"));
    }
    if let Some((challenge, method)) = &grant.code_challenge {
        let verifier = req
            .code_verifier
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_grant("Missing code verifier."))?;
        let computed = match method.as_str() {
            "S256" => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            _ => verifier.to_owned(),
        };
        if &computed != challenge {
            return Err(OAuthError::invalid_grant("Invalid code verifier."));
        }
    }
    let user = emu
        .directory()
        .user(&grant.user_id)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_grant("Account has been deleted"))?;
    let refresh_token = grant.issue_refresh_token.then(|| {
        let token = random_token("1//0emu-", 64);
        emu.tokens().refresh.insert(
            token.clone(),
            crate::tokens::RefreshToken {
                user_id: user.id.clone(),
                client_id: client_id.clone(),
                scopes: grant.scopes.clone(),
            },
        );
        token
    });
    Ok(token_response(
        emu,
        &user,
        &client_id,
        grant.scopes,
        refresh_token.clone(),
        refresh_token,
        grant.nonce,
    ))
}

fn refresh(emu: &Emulator, headers: &HeaderMap, req: &TokenRequest) -> Result<Value, OAuthError> {
    let client_id = authenticate_client(emu, headers, req)?;
    let token = req
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: refresh_token"))?;
    let stored = emu
        .tokens()
        .refresh
        .get(token)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_grant("Token has been expired or revoked."))?;
    if stored.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            "Token has been expired or revoked.",
        ));
    }
    let scopes = match req.scope.as_deref() {
        Some(s) => {
            let wanted = scope::as_granted(scopes_of(s));
            if !wanted.is_subset(&stored.scopes) {
                return Err(OAuthError::invalid_scope(
                    "Some requested scopes were invalid or were not granted.",
                ));
            }
            wanted
        }
        None => stored.scopes.clone(),
    };
    let user = emu
        .directory()
        .user(&stored.user_id)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_grant("Token has been expired or revoked."))?;
    Ok(token_response(
        emu,
        &user,
        &client_id,
        scopes,
        None,
        Some(token.to_owned()),
        None,
    ))
}

/// Mints an access token (and an ID token when `openid` was granted) for a user.
fn token_response(
    emu: &Emulator,
    user: &crate::directory::User,
    client_id: &str,
    scopes: BTreeSet<String>,
    new_refresh_token: Option<String>,
    parent_refresh_token: Option<String>,
    nonce: Option<String>,
) -> Value {
    let ttl = emu.settings().access_token_ttl_secs;
    let principal = Principal {
        email: user.email.clone(),
        user_id: Some(user.id.clone()),
    };
    let access_token = emu.tokens().mint_access(
        principal,
        client_id,
        scopes.clone(),
        Duration::seconds(ttl),
        parent_refresh_token,
    );
    let mut response = json!({
        "access_token": access_token,
        "expires_in": ttl,
        "scope": scopes.iter().cloned().collect::<Vec<_>>().join(" "),
        "token_type": "Bearer",
    });
    if let Some(refresh) = new_refresh_token {
        response["refresh_token"] = json!(refresh);
    }
    if scopes.contains(scope::OPENID) {
        response["id_token"] = json!(id_token(
            emu,
            user,
            client_id,
            &scopes,
            nonce,
            &access_token
        ));
    }
    response
}

fn id_token(
    emu: &Emulator,
    user: &crate::directory::User,
    client_id: &str,
    scopes: &BTreeSet<String>,
    nonce: Option<String>,
    access_token: &str,
) -> String {
    let now = Utc::now().timestamp();
    let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16]);
    let mut claims = json!({
        "iss": emu.issuer(),
        "azp": client_id,
        "aud": client_id,
        "sub": user.id,
        "at_hash": at_hash,
        "iat": now,
        "exp": now + 3600,
    });
    if scope::includes(scopes, scope::EMAIL) {
        claims["email"] = json!(user.email);
        claims["email_verified"] = json!(user.email_verified);
    }
    if scope::includes(scopes, scope::PROFILE) {
        claims["name"] = json!(user.full_name());
        claims["given_name"] = json!(user.given_name);
        claims["family_name"] = json!(user.family_name);
        if let Some(photo) = &user.photo_url {
            claims["picture"] = json!(photo);
        }
    }
    if let Some(hd) = &user.hosted_domain {
        claims["hd"] = json!(hd);
    }
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    emu.signing_key().sign(&claims)
}

/// The JWT-bearer grant: a service account (or, with `sub`, a user it may impersonate) signs an
/// assertion with its key and receives an access token. No refresh token is issued.
fn jwt_bearer(emu: &Emulator, req: &TokenRequest) -> Result<Value, OAuthError> {
    let assertion = req
        .assertion
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: assertion"))?;
    let (_, unverified) = keys::decode_unverified(assertion)
        .map_err(|_| OAuthError::invalid_grant("Invalid JWT: not a JWT."))?;
    let issuer = unverified["iss"].as_str().unwrap_or_default();
    let account = emu
        .service_account(issuer)
        .ok_or_else(|| OAuthError::invalid_grant("Invalid JWT Signature."))?;
    let claims = keys::verify(assertion, &account.key.public())
        .map_err(|_| OAuthError::invalid_grant("Invalid JWT Signature."))?;
    let base = emu.base_url();
    let audience_ok = matches!(
        claims["aud"].as_str(),
        Some(aud) if aud == format!("{base}token") || aud == "https://oauth2.googleapis.com/token"
    );
    if !audience_ok {
        return Err(OAuthError::invalid_grant(
            "Invalid JWT: Failed audience check. The expected value is the token endpoint URL.",
        ));
    }
    let now = Utc::now().timestamp();
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    let timely = matches!((iat, exp), (Some(iat), Some(exp))
        if iat <= now + 300 && exp > now && exp - iat <= 3600);
    if !timely {
        return Err(OAuthError::invalid_grant(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        ));
    }
    let scopes = scope::as_granted(scopes_of(claims["scope"].as_str().unwrap_or_default()));
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "Invalid OAuth scope or ID token audience provided.",
        ));
    }
    let principal = match claims["sub"].as_str() {
        Some(sub) if sub != account.email => {
            let user = emu
                .user(sub)
                .ok_or_else(|| OAuthError::invalid_grant("Invalid email or User ID"))?;
            Principal {
                email: user.email,
                user_id: Some(user.id),
            }
        }
        _ => Principal {
            email: account.email.clone(),
            user_id: None,
        },
    };
    let ttl = emu.settings().access_token_ttl_secs;
    let access_token = emu.tokens().mint_access(
        principal,
        &account.client_id,
        scopes,
        Duration::seconds(ttl),
        None,
    );
    Ok(json!({"access_token": access_token, "expires_in": ttl, "token_type": "Bearer"}))
}

/// `POST /revoke` with `token` in the form or the query.
pub async fn revoke(
    State(emu): State<Emulator>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    body: String,
) -> Response {
    let from_body = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let token = from_body
        .or_else(|| query.get("token").cloned())
        .unwrap_or_default();
    if emu.tokens().revoke(&token) {
        (StatusCode::OK, Json(json!({}))).into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": "invalid_token", "error_description": "Token expired or revoked"}),
            ),
        )
            .into_response()
    }
}

/// `GET /v1/userinfo` (and `/oauth2/v3/userinfo`).
pub async fn userinfo(
    State(emu): State<Emulator>,
    caller: Caller,
) -> Result<Json<Value>, GoogleError> {
    let Some(user) = caller
        .principal
        .user_id
        .as_deref()
        .and_then(|id| emu.directory().user(id).cloned())
    else {
        return Err(GoogleError::unauthenticated());
    };
    let mut info = json!({"sub": user.id});
    if scope::includes(&caller.scopes, scope::EMAIL) {
        info["email"] = json!(user.email);
        info["email_verified"] = json!(user.email_verified);
    }
    if scope::includes(&caller.scopes, scope::PROFILE) {
        info["name"] = json!(user.full_name());
        info["given_name"] = json!(user.given_name);
        info["family_name"] = json!(user.family_name);
        if let Some(photo) = &user.photo_url {
            info["picture"] = json!(photo);
        }
    }
    if let Some(hd) = &user.hosted_domain {
        info["hd"] = json!(hd);
    }
    Ok(Json(info))
}

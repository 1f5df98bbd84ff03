//! Google OpenID Connect: the authorization request (PKCE, state, nonce), the code exchange
//! (`oauth2` crate) and ID-token verification against Google's published keys (`jsonwebtoken`).

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use url::Url;

use crate::config::Config;
use crate::google::GoogleEndpoints;

/// How long Google's signing keys are trusted before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(3600);
/// Clock difference tolerated on `exp` and `iat`.
const LEEWAY_SECS: u64 = 60;

/// The ID token in Google's token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type OidcTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OidcClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What the callback got from the token endpoint.
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub id_token: String,
    /// The scopes the person actually granted (they may untick some).
    pub scopes: Vec<String>,
}

/// The claims we rely on from a verified ID token.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub hd: Option<String>,
    pub nonce: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
}

/// Why the exchange or the ID token was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    #[error("Google refused the sign-in code (used already, expired, or not ours)")]
    CodeRejected,
    #[error("Google's answer had no ID token")]
    NoIdToken,
    #[error("the ID token is invalid: {0}")]
    BadIdToken(String),
    #[error("the ID token was not issued for this sign-in (nonce mismatch)")]
    NonceMismatch,
    #[error("Google could not be reached: {0}")]
    Unavailable(String),
}

/// Our OpenID Connect client at Google.
pub struct Oidc {
    client: OidcClient,
    client_id: String,
    issuers: Vec<String>,
    discovery_url: Url,
    http: reqwest::Client,
    jwks: RwLock<Option<(Instant, JwkSet)>>,
}

/// The parameters of one authorization request.
pub struct AuthorizeRequest<'a> {
    pub scopes: &'a [&'a str],
    pub state: &'a str,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    /// The school's domain, a hint for Google's account chooser (never trusted on return).
    pub hd: Option<&'a str>,
    pub login_hint: Option<&'a str>,
    /// `consent` only when a new refresh token is needed.
    pub prompt: Option<&'a str>,
}

impl Oidc {
    pub fn new(
        config: &Config,
        endpoints: &GoogleEndpoints,
        http: reqwest::Client,
    ) -> Result<Self, url::ParseError> {
        let redirect = config.public_url.join("auth/callback")?;
        let client = oauth2::Client::new(ClientId::new(config.google_client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.google_client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(endpoints.authorization_url.clone()))
            .set_token_uri(TokenUrl::from_url(endpoints.token_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(redirect));
        let issuer = config
            .google_issuer_url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let mut issuers = vec![issuer.clone()];
        // Google's tokens say either form of its issuer.
        if issuer == "https://accounts.google.com" {
            issuers.push("accounts.google.com".to_owned());
        }
        Ok(Self {
            client,
            client_id: config.google_client_id.clone(),
            issuers,
            discovery_url: Url::parse(&format!("{issuer}/.well-known/openid-configuration"))?,
            http,
            jwks: RwLock::new(None),
        })
    }

    /// A fresh PKCE verifier (kept server-side until the callback).
    pub fn new_pkce_verifier() -> String {
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        verifier.secret().to_owned()
    }

    /// Where to send the browser.
    pub fn authorize_url(&self, r: &AuthorizeRequest<'_>) -> Url {
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            r.pkce_verifier.to_owned(),
        ));
        let state = r.state.to_owned();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(r.scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", r.nonce)
            .add_extra_param("access_type", "offline")
            .add_extra_param("include_granted_scopes", "true");
        if let Some(hd) = r.hd {
            request = request.add_extra_param("hd", hd);
        }
        if let Some(hint) = r.login_hint {
            request = request.add_extra_param("login_hint", hint);
        }
        if let Some(prompt) = r.prompt {
            request = request.add_extra_param("prompt", prompt);
        }
        request.url().0
    }

    /// Exchanges the code (with the PKCE verifier) for tokens.
    pub async fn exchange(&self, code: &str, pkce_verifier: &str) -> Result<Tokens, OidcError> {
        let http = self.http.clone();
        let send = move |request: oauth2::HttpRequest| {
            let http = http.clone();
            async move { crate::google::token::send(&http, request).await }
        };
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&send)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r)
                    if matches!(
                        r.error(),
                        BasicErrorResponseType::InvalidGrant
                            | BasicErrorResponseType::InvalidRequest
                    ) =>
                {
                    OidcError::CodeRejected
                }
                other => OidcError::Unavailable(other.to_string()),
            })?;
        let id_token = response
            .extra_fields()
            .id_token
            .clone()
            .ok_or(OidcError::NoIdToken)?;
        Ok(Tokens {
            access_token: SecretString::from(response.access_token().secret().to_owned()),
            refresh_token: response
                .refresh_token()
                .map(|t| SecretString::from(t.secret().to_owned())),
            id_token,
            scopes: response
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        })
    }

    /// Checks the ID token's signature (Google's JWKS), issuer, audience, expiry and nonce.
    pub async fn verify(&self, id_token: &str, nonce: &str) -> Result<IdClaims, OidcError> {
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|e| OidcError::BadIdToken(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(OidcError::BadIdToken(format!(
                "algorithm {:?} is not RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| OidcError::BadIdToken("no key id".to_owned()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&self.issuers);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|e| OidcError::BadIdToken(e.to_string()))?
            .claims;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(OidcError::NonceMismatch);
        }
        Ok(claims)
    }

    /// The key with this id, fetching Google's keys again once if it is not known (rotation).
    async fn key(&self, kid: &str) -> Result<DecodingKey, OidcError> {
        for refresh in [false, true] {
            let jwks = self.jwks(refresh).await?;
            if let Some(jwk) = jwks.find(kid) {
                return DecodingKey::from_jwk(jwk)
                    .map_err(|e| OidcError::BadIdToken(e.to_string()));
            }
        }
        Err(OidcError::BadIdToken(format!("no published key {kid}")))
    }

    async fn jwks(&self, refresh: bool) -> Result<JwkSet, OidcError> {
        if !refresh
            && let Some((at, set)) = self.jwks.read().await.as_ref()
            && at.elapsed() < JWKS_TTL
        {
            return Ok(set.clone());
        }
        let unavailable = |e: reqwest::Error| OidcError::Unavailable(e.to_string());
        let discovery: serde_json::Value = self
            .http
            .get(self.discovery_url.clone())
            .send()
            .await
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .ok_or_else(|| OidcError::Unavailable("discovery has no jwks_uri".to_owned()))?;
        let set: JwkSet = self
            .http
            .get(jwks_uri)
            .send()
            .await
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        *self.jwks.write().await = Some((Instant::now(), set.clone()));
        Ok(set)
    }
}

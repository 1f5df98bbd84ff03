//! Authorization codes, access tokens and refresh tokens.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;

/// Who a token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub email: String,
    /// Google's user id, for people (service accounts have none in Classroom).
    pub user_id: Option<String>,
}

/// A one-time authorization code from the consent page.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scopes: BTreeSet<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<(String, String)>,
    pub issue_refresh_token: bool,
    pub expires: DateTime<Utc>,
}

/// A bearer token for the APIs.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub principal: Principal,
    pub client_id: String,
    pub scopes: BTreeSet<String>,
    pub expires: DateTime<Utc>,
    /// The refresh token it came from, so revoking that revokes this.
    pub refresh_token: Option<String>,
}

/// A long-lived token that mints access tokens.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub user_id: String,
    pub client_id: String,
    pub scopes: BTreeSet<String>,
}

/// Every outstanding code and token.
#[derive(Debug, Default)]
pub struct TokenStore {
    pub codes: HashMap<String, AuthCode>,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshToken>,
    /// Scopes each user has granted each client (for `include_granted_scopes`).
    pub grants: HashMap<(String, String), BTreeSet<String>>,
}

pub fn random_token(prefix: &str, len: usize) -> String {
    let body: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{body}")
}

impl TokenStore {
    /// Mints an access token valid for `ttl`.
    pub fn mint_access(
        &mut self,
        principal: Principal,
        client_id: &str,
        scopes: BTreeSet<String>,
        ttl: Duration,
        refresh_token: Option<String>,
    ) -> String {
        let token = random_token("ya29.emu-", 64);
        self.access.insert(
            token.clone(),
            AccessToken {
                principal,
                client_id: client_id.to_owned(),
                scopes,
                expires: Utc::now() + ttl,
                refresh_token,
            },
        );
        token
    }

    /// A live (unexpired) access token.
    pub fn live_access(&self, token: &str) -> Option<&AccessToken> {
        self.access.get(token).filter(|t| t.expires > Utc::now())
    }

    /// Revokes a token as Google's revocation endpoint does: the whole grant goes — every
    /// refresh and access token that user holds for that client. Returns whether the token was
    /// known.
    pub fn revoke(&mut self, token: &str) -> bool {
        let grant = match (self.refresh.get(token), self.access.get(token)) {
            (Some(r), _) => Some((r.client_id.clone(), Some(r.user_id.clone()), None)),
            (None, Some(a)) => Some((
                a.client_id.clone(),
                a.principal.user_id.clone(),
                Some(a.principal.email.clone()),
            )),
            (None, None) => None,
        };
        let Some((client, user_id, email)) = grant else {
            return false;
        };
        let email = email.or_else(|| {
            self.access
                .values()
                .find(|a| a.principal.user_id == user_id && a.client_id == client)
                .map(|a| a.principal.email.clone())
        });
        self.refresh
            .retain(|_, r| !(r.client_id == client && Some(&r.user_id) == user_id.as_ref()));
        self.access.retain(|t, a| {
            t != token
                && !(a.client_id == client
                    && (a.principal.user_id == user_id
                        || Some(&a.principal.email) == email.as_ref()))
        });
        if let Some(user_id) = user_id {
            self.grants.remove(&(client, user_id));
        }
        true
    }

    /// Revokes every token a user holds (the user removed the app's access).
    pub fn revoke_user(&mut self, user_id: &str, email: &str) -> usize {
        let before = self.refresh.len() + self.access.len();
        self.refresh.retain(|_, r| r.user_id != user_id);
        self.access.retain(|_, a| a.principal.email != email);
        self.grants.retain(|(_, u), _| u != user_id);
        before - self.refresh.len() - self.access.len()
    }

    /// Makes every access token expire now, as if an hour had passed.
    pub fn expire_access_tokens(&mut self) {
        let past = Utc::now() - Duration::seconds(1);
        for t in self.access.values_mut() {
            t.expires = past;
        }
    }
}

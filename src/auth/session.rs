//! Server-side sessions and sign-in attempts, kept in Redis.
//!
//! A session id is 256 random bits (base64url) in an HttpOnly, SameSite=Lax cookie (Secure
//! except for plain http on localhost). Redis stores only a SHA-256 of the id, so a copy of
//! Redis does not hold usable ids. Sessions end after 8 hours idle or 24 hours in all, at
//! sign-out, or when the person's last role is taken away; a new id is issued at every sign-in.
//!
//! Why not tower-sessions: its ids are 128-bit and it has no absolute expiry, and the maintained
//! Redis and PostgreSQL stores for it pin other major versions of redis-rs and sqlx than ours.
//! What we need fits in this module.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use cookie::{Cookie, SameSite};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::redis_client::{KeyScan, delete_matching};

/// The session cookie's name over plain http on localhost (development).
pub const SESSION_COOKIE: &str = "invigilator_session";
/// The sign-in attempt cookie's name over plain http on localhost (lives 10 minutes).
pub const LOGIN_COOKIE: &str = "invigilator_login";
/// Over https the names carry the `__Host-` prefix: the browser then refuses the cookie unless
/// it is Secure, for our host only and path `/`, so a sibling subdomain cannot plant one.
pub const HOST_PREFIX: &str = "__Host-";

const LOGIN_TTL_SECS: u64 = 600;

/// A random 256-bit token from the operating system's generator, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS generator does not fail on supported platforms; never fall back to weak ids.
        panic!("the operating system's random number generator is unavailable");
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a bearer token (a calendar feed's address, an operator's token): what the
/// database keeps in place of the token, so a copy of the table opens nothing.
pub fn token_sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The SHA-256 of a token, in hex: what Redis stores in place of the token itself.
fn token_digest(token: &str) -> String {
    token_sha256(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a session knows about who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    pub school_id: Uuid,
    pub staff_id: Uuid,
    /// Sent back with every state-changing request (header or form field).
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        Self {
            idle: Duration::hours(8),
            absolute: Duration::hours(24),
        }
    }
}

/// Creates, finds and ends sessions.
///
/// Every name in Redis is under the deployment's namespace (`TENANT_ROLE_PREFIX`), as queues and
/// locks are, so two deployments sharing one Redis never see each other's sessions.
#[derive(Clone)]
pub struct Sessions {
    redis: ConnectionManager,
    lifetimes: SessionLifetimes,
    secure_cookies: bool,
    namespace: String,
}

impl Sessions {
    pub fn new(
        redis: ConnectionManager,
        lifetimes: SessionLifetimes,
        secure_cookies: bool,
        namespace: &str,
    ) -> Self {
        Self {
            redis,
            lifetimes,
            secure_cookies,
            namespace: namespace.to_owned(),
        }
    }

    fn session_key(&self, id: &str) -> String {
        self.session_key_for_digest(&token_digest(id))
    }

    fn session_key_for_digest(&self, digest: &str) -> String {
        format!("invigilator:{}session:{digest}", self.namespace)
    }

    fn login_key(&self, id: &str) -> String {
        format!("invigilator:{}login:{}", self.namespace, token_digest(id))
    }

    /// The set of one person's session digests, so all of them can be ended at once.
    fn person_key(&self, school_id: Uuid, staff_id: Uuid) -> String {
        format!(
            "invigilator:{}staff-sessions:{school_id}:{staff_id}",
            self.namespace
        )
    }

    /// Starts a session; returns its id (for the cookie) and data.
    pub async fn create(
        &self,
        school_id: Uuid,
        staff_id: Uuid,
    ) -> redis::RedisResult<(String, SessionData)> {
        let id = random_token();
        let data = SessionData {
            school_id,
            staff_id,
            csrf_token: random_token(),
            created_at: Utc::now(),
        };
        let json = serde_json::to_string(&data).unwrap_or_default();
        let digest = token_digest(&id);
        let person = self.person_key(school_id, staff_id);
        let mut conn = self.redis.clone();
        // The person's index lives as long as a session can; ended sessions left in it are
        // harmless (deleting a missing key does nothing).
        let _: () = redis::pipe()
            .atomic()
            .set_ex(
                self.session_key_for_digest(&digest),
                json,
                self.lifetimes.idle.num_seconds() as u64,
            )
            .sadd(&person, &digest)
            .expire(&person, self.lifetimes.absolute.num_seconds())
            .query_async(&mut conn)
            .await?;
        Ok((id, data))
    }

    /// The live session with this id, if any; renews its idle expiry.
    pub async fn load(&self, id: &str) -> redis::RedisResult<Option<SessionData>> {
        let key = self.session_key(id);
        let mut conn = self.redis.clone();
        let json: Option<String> = conn
            .get_ex(
                &key,
                redis::Expiry::EX(self.lifetimes.idle.num_seconds() as u64),
            )
            .await?;
        let Some(data) = json.and_then(|j| serde_json::from_str::<SessionData>(&j).ok()) else {
            return Ok(None);
        };
        if Utc::now() - data.created_at > self.lifetimes.absolute {
            let _: () = conn.del(&key).await?;
            return Ok(None);
        }
        Ok(Some(data))
    }

    /// Ends a session.
    pub async fn end(&self, id: &str) -> redis::RedisResult<()> {
        let mut conn = self.redis.clone();
        conn.del(self.session_key(id)).await
    }

    /// Ends every session of one person (their last role was taken away, say); returns how many
    /// were live.
    pub async fn end_all_for(&self, school_id: Uuid, staff_id: Uuid) -> redis::RedisResult<u64> {
        let person = self.person_key(school_id, staff_id);
        let mut conn = self.redis.clone();
        let digests: Vec<String> = conn.smembers(&person).await?;
        let keys: Vec<String> = digests
            .iter()
            .map(|d| self.session_key_for_digest(d))
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let live: u64 = conn.del(keys).await?;
        // Only what was read: a session made meanwhile stays in the index, to be ended too.
        let _: () = conn.srem(&person, &digests).await?;
        Ok(live)
    }

    /// Ends every session and every sign-in in progress in this deployment (a suspected
    /// breach). Returns how many live sessions each person had, by school and person, and how
    /// many live sessions no person's index named (none, unless Redis lost an index).
    pub async fn end_everyone(&self) -> redis::RedisResult<(HashMap<(Uuid, Uuid), u64>, u64)> {
        let prefix = format!("invigilator:{}staff-sessions:", self.namespace);
        let indexes = KeyScan::new(&self.redis, &format!("{prefix}*"))
            .collect()
            .await?;
        let mut per_person: HashMap<(Uuid, Uuid), u64> = HashMap::new();
        for index in indexes {
            // `{school}:{staff}` after the prefix; anything else is not ours to read.
            let ids = index
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split_once(':'));
            let Some((Ok(school_id), Ok(staff_id))) =
                ids.map(|(school, staff)| (Uuid::parse_str(school), Uuid::parse_str(staff)))
            else {
                continue;
            };
            let ended = self.end_all_for(school_id, staff_id).await?;
            *per_person.entry((school_id, staff_id)).or_default() += ended;
        }
        // Whatever is left had no index: ended all the same.
        let unindexed = delete_matching(
            &self.redis,
            &format!("invigilator:{}session:*", self.namespace),
        )
        .await?;
        delete_matching(
            &self.redis,
            &format!("invigilator:{}login:*", self.namespace),
        )
        .await?;
        Ok((per_person, unindexed))
    }

    fn name(&self, base: &'static str) -> String {
        if self.secure_cookies {
            format!("{HOST_PREFIX}{base}")
        } else {
            base.to_owned()
        }
    }

    /// The session cookie's name in this deployment.
    pub fn session_cookie_name(&self) -> String {
        self.name(SESSION_COOKIE)
    }

    /// The sign-in attempt cookie's name in this deployment.
    pub fn login_cookie_name(&self) -> String {
        self.name(LOGIN_COOKIE)
    }

    /// The `Set-Cookie` that carries a session id.
    pub fn cookie(&self, id: String) -> Cookie<'static> {
        Cookie::build((self.session_cookie_name(), id))
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(SameSite::Lax)
            .build()
    }

    /// The `Set-Cookie` that removes the session cookie.
    pub fn removal_cookie(&self) -> Cookie<'static> {
        let mut c = self.cookie(String::new());
        c.make_removal();
        c
    }

    /// Saves a sign-in attempt under a fresh id (for the short-lived cookie).
    pub async fn start_login(&self, attempt: &LoginAttempt) -> redis::RedisResult<String> {
        let id = random_token();
        let json = serde_json::to_string(attempt).unwrap_or_default();
        let mut conn = self.redis.clone();
        let _: () = conn
            .set_ex(self.login_key(&id), json, LOGIN_TTL_SECS)
            .await?;
        Ok(id)
    }

    /// Takes a sign-in attempt: it can be used once only.
    pub async fn take_login(&self, id: &str) -> redis::RedisResult<Option<LoginAttempt>> {
        let mut conn = self.redis.clone();
        let json: Option<String> = conn.get_del(self.login_key(id)).await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// The cookie that binds a sign-in attempt to this browser.
    pub fn login_cookie(&self, id: String) -> Cookie<'static> {
        Cookie::build((self.login_cookie_name(), id))
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(LOGIN_TTL_SECS as i64))
            .build()
    }

    pub fn login_removal_cookie(&self) -> Cookie<'static> {
        let mut c = self.login_cookie(String::new());
        c.make_removal();
        c
    }
}

/// Why a sign-in was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginPurpose {
    /// A staff member signing in.
    SignIn,
    /// A School Admin connecting the school's Drive operator account.
    ConnectDrive { school_id: Uuid, staff_id: Uuid },
}

/// What the callback must match: kept server-side for 10 minutes, used once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginAttempt {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub purpose: LoginPurpose,
    /// Whether this attempt already asked Google for consent again (no loop).
    pub forced_consent: bool,
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

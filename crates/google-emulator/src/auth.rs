//! Who is calling an API, and with which scopes.

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::emulator::Emulator;
use crate::error::GoogleError;
use crate::tokens::Principal;

/// OAuth scopes the emulator checks.
pub mod scope {
    pub const OPENID: &str = "openid";
    pub const EMAIL: &str = "email";
    pub const PROFILE: &str = "profile";
    pub const USERINFO_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
    pub const USERINFO_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";
    pub const DRIVE: &str = "https://www.googleapis.com/auth/drive";
    pub const DRIVE_READONLY: &str = "https://www.googleapis.com/auth/drive.readonly";
    pub const DRIVE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
    pub const COURSES: &str = "https://www.googleapis.com/auth/classroom.courses";
    pub const COURSES_READONLY: &str = "https://www.googleapis.com/auth/classroom.courses.readonly";
    pub const ROSTERS: &str = "https://www.googleapis.com/auth/classroom.rosters";
    pub const ROSTERS_READONLY: &str = "https://www.googleapis.com/auth/classroom.rosters.readonly";
    pub const PROFILE_EMAILS: &str = "https://www.googleapis.com/auth/classroom.profile.emails";
    pub const PROFILE_PHOTOS: &str = "https://www.googleapis.com/auth/classroom.profile.photos";

    /// Scopes that need no checkbox on the consent page.
    pub const BASIC: &[&str] = &[OPENID, EMAIL, PROFILE, USERINFO_EMAIL, USERINFO_PROFILE];

    /// Scopes as Google names them in what it grants: `email` and `profile` become their long
    /// names (`…/auth/userinfo.email`, `…/auth/userinfo.profile`), and asking for either
    /// userinfo scope grants `openid` too. Token responses, consent redirects and stored grants
    /// all use these names.
    pub fn as_granted(
        scopes: impl IntoIterator<Item = String>,
    ) -> std::collections::BTreeSet<String> {
        let mut granted: std::collections::BTreeSet<String> = scopes
            .into_iter()
            .map(|s| match s.as_str() {
                EMAIL => USERINFO_EMAIL.to_owned(),
                PROFILE => USERINFO_PROFILE.to_owned(),
                _ => s,
            })
            .collect();
        if granted.contains(USERINFO_EMAIL) || granted.contains(USERINFO_PROFILE) {
            granted.insert(OPENID.to_owned());
        }
        granted
    }

    /// Whether `granted` includes `wanted`, counting Google's aliases for the basic scopes.
    pub fn includes(granted: &std::collections::BTreeSet<String>, wanted: &str) -> bool {
        let alias = match wanted {
            EMAIL => Some(USERINFO_EMAIL),
            USERINFO_EMAIL => Some(EMAIL),
            PROFILE => Some(USERINFO_PROFILE),
            USERINFO_PROFILE => Some(PROFILE),
            _ => None,
        };
        granted.contains(wanted) || alias.is_some_and(|a| granted.contains(a))
    }
}

/// The authenticated caller of an API method.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub client_id: String,
    pub scopes: BTreeSet<String>,
}

impl Caller {
    /// Passes if the token carries at least one of `scopes`; otherwise Google's 403.
    pub fn require_any(&self, scopes: &[&str]) -> Result<(), GoogleError> {
        if scopes.iter().any(|s| self.scopes.contains(*s)) {
            Ok(())
        } else {
            Err(GoogleError::insufficient_scopes())
        }
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// The bearer token in an `Authorization` header, if well formed.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (kind, token) = value.split_once(' ')?;
    kind.eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<Emulator> for Caller {
    type Rejection = GoogleError;

    async fn from_request_parts(
        parts: &mut Parts,
        emulator: &Emulator,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(GoogleError::unauthenticated)?;
        let tokens = emulator.tokens();
        let access = tokens
            .live_access(token)
            .ok_or_else(GoogleError::unauthenticated)?;
        Ok(Caller {
            principal: access.principal.clone(),
            client_id: access.client_id.clone(),
            scopes: access.scopes.clone(),
        })
    }
}

//! The signed-in staff member, their school and roles, for handlers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use super::guard::CurrentSession;
use crate::auth::class_scope::{ClassAccess, ClassScope};
use crate::auth::roles::{Permission, RoleAssignment, any_allows};
use crate::auth::staff::{self, Staff};
use crate::tenancy::{
    School, SchoolStatus, SchoolTx, begin_school_tx, registry::find_school_by_id,
};

/// A signed-in staff member who still has access to an active school.
#[derive(Debug, Clone)]
pub struct CurrentStaff {
    pub school: School,
    pub staff: Staff,
    pub roles: Vec<RoleAssignment>,
    pub session_id: String,
    pub csrf_token: String,
}

impl CurrentStaff {
    /// Passes if one of the person's roles allows `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if any_allows(&self.roles, permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub fn can(&self, permission: Permission) -> bool {
        any_allows(&self.roles, permission)
    }

    /// The classes this person reaches for `access`.
    pub fn class_scope(&self, access: ClassAccess) -> ClassScope {
        ClassScope::of(&self.roles, self.staff.id, access)
    }

    /// A transaction on this person's school (the tenancy module's one way in).
    pub async fn school_tx(&self, state: &AppState) -> Result<SchoolTx, ApiError> {
        Ok(begin_school_tx(&state.db, &self.school).await?)
    }
}

impl FromRequestParts<AppState> for CurrentStaff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = parts
            .extensions
            .get::<CurrentSession>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)?;
        let school = find_school_by_id(&state.db, session.data.school_id)
            .await?
            .filter(|s| s.status == SchoolStatus::Active)
            .ok_or(ApiError::Unauthenticated)?;
        let mut tx = begin_school_tx(&state.db, &school).await?;
        let (person, roles) = staff::with_roles(&mut tx, session.data.staff_id)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        tx.commit().await?;
        if roles.is_empty() {
            // Every role was taken away since sign-in: the session ends here (revoking the last
            // role ends it too; this catches one that outlived that, e.g. Redis was down).
            if let Err(e) = state.sessions.end(&session.id).await {
                tracing::error!(error = %e, "could not end the session of someone with no role");
            }
            return Err(ApiError::Unauthenticated);
        }
        Ok(Self {
            school,
            staff: person,
            roles,
            session_id: session.id,
            csrf_token: session.data.csrf_token,
        })
    }
}

/// The signed-in staff member if there is one (for pages that show either state).
pub struct MaybeStaff(pub Option<CurrentStaff>);

impl FromRequestParts<AppState> for MaybeStaff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match CurrentStaff::from_request_parts(parts, state).await {
            Ok(staff) => Ok(Self(Some(staff))),
            Err(ApiError::Unauthenticated | ApiError::Forbidden) => Ok(Self(None)),
            Err(e) => Err(e),
        }
    }
}

/// A JSON request body. Anything that is not the documented JSON (not JSON, the wrong shape, a
/// missing or unknown field) is a 422 naming what is wrong; a body that is not declared as JSON
/// was already refused with 415, and one over the size limit with 413
/// ([`super::error::shape_api_errors`]).
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = axum::response::Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        JsonBody::parse(&bytes).map_err(IntoResponse::into_response)
    }
}

impl<T: serde::de::DeserializeOwned> JsonBody<T> {
    /// Reads a body taken as bytes, for a handler that must check who is asking before it
    /// says anything about what they sent (a refused person gets 403, not 422).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        serde_json::from_slice(bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::Invalid(format!("the body is not the JSON expected: {e}")))
    }
}

/// A query string. One that does not fit the documented parameters (an unknown parameter, a
/// value of the wrong kind) is a 422 saying what is wrong, as a body would be.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(params)| QueryParams(params))
            .map_err(|e| {
                ApiError::Invalid(format!(
                    "the query string cannot be used: {}",
                    e.body_text()
                ))
            })
    }
}

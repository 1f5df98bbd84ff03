//! The JSON API's contract: an OpenAPI 3 document built from the handlers' own annotations and
//! served at `GET /api/openapi.json`. A test holds it against the router, so a route cannot be
//! added without being documented, nor documented without existing.

use std::collections::BTreeMap;

use axum::Json;
use serde::Deserialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::ErrorBody;

/// An action's body when it carries nothing: no body at all, or `{}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

/// Every failure an operation can answer with, in the one shape ([`ErrorBody`]): any 4xx or
/// 5xx, so that a client (and the schema fuzzer) can hold every refusal to it.
pub struct Failures;

impl utoipa::IntoResponses for Failures {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let failure = |description: &str| -> RefOr<Response> {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        };
        BTreeMap::from([
            (
                "4XX".to_owned(),
                failure(
                    "Refused: `error.code` says why (unauthenticated, forbidden, expired_page, \
                     not_found, method_not_allowed, conflict, stale, invalid, bad_request, \
                     payload_too_large, unsupported_media_type, rate_limited)",
                ),
            ),
            (
                "5XX".to_owned(),
                failure("Our side or Google's failed: internal, google_unavailable, unavailable"),
            ),
        ])
    }
}

/// How requests are authorised: the dashboard's session cookie, with the session's CSRF token
/// on every state-changing request; an operator's bearer token for support reads.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::session::SESSION_COOKIE,
                "The session cookie set at sign-in (`__Host-invigilator_session` over https)",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The session's CSRF token (`csrf_token` in `GET /api/me`), on every \
                 state-changing request",
            ))),
        );
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An operator's token, for reads a School Admin has granted",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, from every JSON API handler's `#[utoipa::path]`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Invigilator API",
        description = "The JSON API behind the dashboard. Every failure is \
            `{\"error\": {\"code\", \"message\", \"request_id\"}}`; bodies are JSON \
            (`Content-Type: application/json`) with no unknown fields.",
    ),
    modifiers(&Security),
    components(schemas(ErrorBody)),
    paths(
        openapi_json,
        super::api::me,
        super::api::list_roles,
        super::api::assign_role,
        super::api::revoke_role,
        super::api::get_settings,
        super::api::put_settings,
        super::drive_operators::list,
        super::drive_operators::remove,
        super::api::verify_audit,
        super::api::request_sync,
        super::portfolios::portfolio,
        super::portfolios::request_portfolio,
        super::portfolios::request_class,
        super::windows::override_unlock,
        super::windows::list,
        super::windows::create,
        super::windows::preview_new,
        super::windows::feed_status,
        super::windows::new_feed,
        super::windows::revoke_feed,
        super::windows::get,
        super::windows::edit,
        super::windows::preview_edit,
        super::windows::finish,
        super::class_rules::classes,
        super::class_rules::set_placement,
        super::class_rules::list,
        super::class_rules::apply,
        super::class_rules::add,
        super::class_rules::reorder,
        super::class_rules::change,
        super::class_rules::remove,
        super::shares::list,
        super::shares::request_scan,
        super::shares::decide,
        super::support::list,
        super::support::create,
        super::support::revoke,
        super::support::classes,
        super::support::class,
        super::support::audit_log,
        super::support::sync_runs,
        super::privacy::export_student,
        super::privacy::export_staff,
        super::events::stream,
        super::erasure::erase,
        super::retention::preview,
        super::data_map::show,
    )
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`: this document. Public, like any API's contract.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "contract",
    responses((status = 200, description = "This OpenAPI 3 document", body = Object), Failures)
)]
#[tracing::instrument]
pub async fn openapi_json() -> Json<Document> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{Operation, PathItem};

    /// The document's operations as `(METHOD, path)`, sorted.
    fn documented_operations(document: &Document) -> Vec<(String, String)> {
        let mut operations = Vec::new();
        for (path, item) in &document.paths.paths {
            let PathItem {
                get,
                put,
                post,
                delete,
                patch,
                ..
            } = item;
            let methods: [(&str, &Option<Operation>); 5] = [
                ("GET", get),
                ("PUT", put),
                ("POST", post),
                ("DELETE", delete),
                ("PATCH", patch),
            ];
            for (method, operation) in methods {
                if operation.is_some() {
                    operations.push((method.to_owned(), path.clone()));
                }
            }
        }
        operations.sort();
        operations
    }

    /// The `/api/…` routes of `router()` as `(METHOD, path)`, read from its source: axum cannot
    /// list a router's routes, and this keeps the check to the one place routes are declared.
    fn routed_operations() -> Vec<(String, String)> {
        let source = include_str!("mod.rs");
        let mut operations = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find(".route(") {
            rest = &rest[start + ".route(".len()..];
            // The route's arguments end at the bracket that closes `.route(`.
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let arguments = &rest[..end];
            let path = arguments.split('"').nth(1).unwrap_or_default().to_owned();
            if !path.starts_with("/api/") {
                continue;
            }
            let handlers = &arguments[arguments.find(',').unwrap() + 1..];
            for (method, call) in [
                ("GET", "get("),
                ("PUT", "put("),
                ("POST", "post("),
                ("DELETE", "delete("),
                ("PATCH", "patch("),
            ] {
                let called = handlers.match_indices(call).any(|(at, _)| {
                    // `get(`, `.get(` or `axum::routing::get(`, not `budget(`.
                    at == 0 || !handlers[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if called {
                    operations.push((method.to_owned(), path.clone()));
                }
            }
        }
        operations.sort();
        operations
    }

    #[test]
    fn every_api_route_is_documented_and_every_documented_route_exists() {
        let routed = routed_operations();
        assert!(
            routed.len() > 30,
            "the router's source was read: {routed:?}"
        );
        let documented = documented_operations(&ApiDoc::openapi());
        let undocumented: Vec<_> = routed.iter().filter(|r| !documented.contains(r)).collect();
        let unrouted: Vec<_> = documented.iter().filter(|d| !routed.contains(d)).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routes without documentation: {undocumented:?}; documented but not routed: \
             {unrouted:?}"
        );
    }

    #[test]
    fn every_operation_documents_failures_in_the_one_shape() {
        let document = ApiDoc::openapi();
        for (path, item) in &document.paths.paths {
            for operation in [&item.get, &item.put, &item.post, &item.delete]
                .into_iter()
                .flatten()
            {
                for range in ["4XX", "5XX"] {
                    assert!(
                        operation.responses.responses.contains_key(range),
                        "{path} does not document {range}"
                    );
                }
            }
        }
        let json = serde_json::to_value(&document).unwrap();
        let detail = &json["components"]["schemas"]["ErrorDetail"];
        assert_eq!(
            detail["required"],
            serde_json::json!(["code", "message", "request_id"]),
            "{detail}"
        );
    }
}

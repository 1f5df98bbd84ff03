//! HTTP requests counted by route template and status, with their latency.
//!
//! Two layers work together. [`count_requests`] sits outside every other layer, so it also sees
//! the answers those layers make themselves (503 when a request times out, 413 for a body too
//! large). Only the router knows which route matched, so [`note_route`], added with
//! `Router::layer` where axum's `MatchedPath` is known, writes the template into a slot the
//! outer layer put in the request. A request no route matched is counted as `unmatched`, and
//! one refused before routing as `unrouted`: raw paths, which carry ids, are never labels.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Where the inner layer leaves the matched route's template for the outer one.
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<String>>);

/// The outer layer: times the request and counts it once answered.
pub async fn count_requests(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let route = slot.0.get().map_or("unrouted", String::as_str);
    super::http_request(
        &method,
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The inner layer: records the route the router matched (or `unmatched`).
pub async fn note_route(request: Request, next: Next) -> Response {
    if let Some(slot) = request.extensions().get::<RouteSlot>() {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let _ = slot.0.set(route.to_owned());
    }
    next.run(request).await
}

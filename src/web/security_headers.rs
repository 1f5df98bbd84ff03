//! Headers every answer carries so a browser refuses what our pages never do: scripts or styles
//! from anywhere but us (no inline script at all), framing, sniffing content types, and telling
//! other sites which page a link came from (class ids are nobody else's business). In
//! production, also never to reach us over plain http again (HSTS).

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// The Content-Security-Policy for a deployment whose Google sign-in lives at `google_origin`
/// (forms may post to us, and the Drive connection form is redirected on to Google). Built
/// once at start-up; an origin that could not be a header (it comes from a parsed URL, so it
/// cannot) would get the strictest policy of all.
pub fn content_security_policy(google_origin: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; form-action 'self' {google_origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// The `Strict-Transport-Security` value production sends: two years, the length browsers'
/// preload lists ask for. Sub-domains are left out: our address may sit beside other services
/// of one domain that we do not run.
pub fn strict_transport_security() -> HeaderValue {
    HeaderValue::from_static("max-age=63072000")
}

/// Adds the headers to every answer.
pub async fn add(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        state.web.content_security_policy.clone(),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if let Some(hsts) = &state.web.strict_transport_security {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_max_age_is_the_documented_two_years() {
        let two_years = 2 * 365 * 24 * 60 * 60;
        assert_eq!(
            strict_transport_security().to_str().unwrap_or_default(),
            format!("max-age={two_years}")
        );
    }
}

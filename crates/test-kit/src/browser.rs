//! A browser for sign-in tests: keeps cookies per host, follows redirects one at a time, and
//! picks an account on Google's (the emulator's) consent step.

use std::collections::HashMap;
use std::net::SocketAddr;

use google_emulator::RunningEmulator;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};

use crate::{TestDb, google_seed, http_client, serve_app};

/// One answer, as the browser saw it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub url: String,
    pub body: String,
    pub set_cookies: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
}

pub struct Browser {
    client: reqwest::Client,
    /// host:port → cookie name → value
    cookies: HashMap<String, HashMap<String, String>>,
    /// Every Set-Cookie seen, to check what we set.
    pub seen_set_cookies: Vec<String>,
    pub origin: String,
}

fn host_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!(
        "{}:{}",
        u.host_str().unwrap(),
        u.port_or_known_default().unwrap()
    )
}

impl Browser {
    pub fn new(origin: &str) -> Self {
        Self {
            client: http_client(),
            cookies: HashMap::new(),
            seen_set_cookies: Vec::new(),
            origin: origin.to_owned(),
        }
    }

    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.cookies
            .get(&host_of(url))
            .and_then(|c| c.get(name))
            .cloned()
    }

    pub fn set_cookie(&mut self, url: &str, name: &str, value: &str) {
        self.cookies
            .entry(host_of(url))
            .or_default()
            .insert(name.to_owned(), value.to_owned());
    }

    pub fn forget_cookie(&mut self, url: &str, name: &str) {
        if let Some(c) = self.cookies.get_mut(&host_of(url)) {
            c.remove(name);
        }
    }

    /// One request; cookies sent and stored, no redirect followed.
    pub async fn request(&mut self, method: Method, url: &str, body: Option<RequestBody>) -> Page {
        let host = host_of(url);
        let mut req = self.client.request(method.clone(), url);
        if let Some(jar) = self.cookies.get(&host).filter(|j| !j.is_empty()) {
            let header = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header(COOKIE, header);
        }
        if method != Method::GET {
            req = req.header("origin", &self.origin);
        }
        match body {
            Some(RequestBody::Form(pairs)) => req = req.form(&pairs),
            Some(RequestBody::Json(value, csrf)) => {
                req = req.json(&value);
                if let Some(token) = csrf {
                    req = req.header("x-csrf-token", token);
                }
            }
            Some(RequestBody::Raw(text, csrf)) => {
                // JSON typed by hand (exact escapes, or not JSON at all), declared as JSON.
                req = req.header("content-type", "application/json").body(text);
                if let Some(token) = csrf {
                    req = req.header("x-csrf-token", token);
                }
            }
            None => {}
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let mut set_cookies = Vec::new();
        for value in headers.get_all(SET_COOKIE) {
            let raw = value.to_str().unwrap().to_owned();
            let parsed = cookie::Cookie::parse(raw.clone()).unwrap();
            let jar = self.cookies.entry(host.clone()).or_default();
            let removed =
                parsed.max_age().is_some_and(|a| a.is_zero()) || parsed.value().is_empty();
            if removed {
                jar.remove(parsed.name());
            } else {
                jar.insert(parsed.name().to_owned(), parsed.value().to_owned());
            }
            self.seen_set_cookies.push(raw.clone());
            set_cookies.push(raw);
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            url: url.to_owned(),
            body,
            set_cookies,
            headers,
        }
    }

    /// The `Cookie` header this browser would send to `url`'s host, for requests the test makes
    /// itself (a stream read as it arrives).
    pub fn cookie_header(&self, url: &str) -> String {
        self.cookies
            .get(&host_of(url))
            .map(|jar| {
                jar.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    pub async fn get(&mut self, url: &str) -> Page {
        self.request(Method::GET, url, None).await
    }

    /// Follows redirects until a page that is not one; at Google's authorisation endpoint,
    /// signs in as `account` (the account chooser's click).
    pub async fn follow(&mut self, start: &str, account: Option<&str>) -> Page {
        let mut url = start.to_owned();
        for _ in 0..10 {
            if let Some(email) = account
                && url.contains("/o/oauth2/v2/auth")
                && !url.contains("login_hint=")
            {
                let mut u = url::Url::parse(&url).unwrap();
                u.query_pairs_mut().append_pair("login_hint", email);
                url = u.to_string();
            }
            let page = self.get(&url).await;
            if !page.status.is_redirection() {
                return page;
            }
            let location = page.headers[LOCATION].to_str().unwrap().to_owned();
            url = url::Url::parse(&url)
                .unwrap()
                .join(&location)
                .unwrap()
                .to_string();
        }
        panic!("too many redirects from {start}");
    }
}

pub enum RequestBody {
    Form(Vec<(String, String)>),
    Json(serde_json::Value, Option<String>),
    /// A body sent as it is (not JSON, say) but declared as JSON, with a CSRF token.
    Raw(String, Option<String>),
}

/// A school, the Google emulator and the app, for sign-in tests.
pub struct SignInWorld {
    pub db: TestDb,
    pub emu: RunningEmulator,
    pub app: String,
    pub addr: SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _server: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub const ADMIN: &str = "head.of.it@hillside.sch.uk";
pub const OUTSIDER: &str = "receptionist@hillside.sch.uk";

impl SignInWorld {
    /// The emulator's seeded school plus a School Admin (invited by email) and a member of
    /// staff who teaches nothing. Every address of its domain is listed as staff's, so
    /// teaching a class makes anyone a Teacher (tests of the staff addresses change that).
    pub async fn new() -> Self {
        Self::with_seed(google_seed(3)).await
    }

    /// The same, on `seed` (the School Admin and the member of staff are added to it).
    pub async fn with_seed(seed: google_emulator::Seed) -> Self {
        Self::with_seed_through(seed, crate::proxy::Through::default()).await
    }

    /// The same, with the app reaching PostgreSQL, Redis or Google through the given proxies
    /// (for drills that take one of them away).
    pub async fn with_seed_through(
        mut seed: google_emulator::Seed,
        through: crate::proxy::Through<'_>,
    ) -> Self {
        for (email, given) in [(ADMIN, "Head"), (OUTSIDER, "Rec")] {
            seed.users.push(google_emulator::seed::SeedUser::person(
                email, given, "Staff",
            ));
        }
        let emu = google_emulator::start(&seed).await.unwrap();
        let db = TestDb::new().await;
        let created = crate::invigilator(
            &db,
            &[
                "tenant",
                "create",
                "--slug",
                "hillside",
                "--name",
                "Hillside Academy",
                "--domain",
                "hillside.sch.uk",
                "--admin-email",
                ADMIN,
            ],
        );
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        crate::list_staff_addresses(&db, "hillside", &["*@hillside.sch.uk"]).await;
        let base = emu.url();
        let (database, redis, google) = through.urls(&db, &base);
        let (addr, shutdown, server) = serve_app(
            &db,
            &[
                ("GOOGLE_API_BASE_URL", &google),
                ("GOOGLE_ISSUER_URL", &base),
                ("DATABASE_URL", &database),
                ("REDIS_URL", &redis),
            ],
        )
        .await;
        Self {
            db,
            emu,
            app: format!("http://127.0.0.1:{}", addr.port()),
            addr,
            _shutdown: shutdown,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app)
    }

    /// Registers another school in the same deployment, with its first School Admin.
    pub async fn add_school(
        &self,
        slug: &str,
        domain: &str,
        admin: &str,
    ) -> invigilator::tenancy::School {
        let created = crate::invigilator(
            &self.db,
            &[
                "tenant",
                "create",
                "--slug",
                slug,
                "--name",
                &format!("{slug} school"),
                "--domain",
                domain,
                "--admin-email",
                admin,
            ],
        );
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        crate::list_staff_addresses(&self.db, slug, &[&format!("*@{domain}")]).await;
        invigilator::tenancy::find_school_by_slug(&self.db.pool, slug)
            .await
            .unwrap()
            .unwrap()
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.app)
    }

    /// The CSRF token of whoever `browser` is signed in as (from `GET /api/me`).
    pub async fn csrf_token(&self, browser: &mut Browser) -> String {
        let me: serde_json::Value =
            serde_json::from_str(&browser.get(&self.url("/api/me")).await.body).unwrap();
        me["csrf_token"].as_str().unwrap().to_owned()
    }

    /// Whether Google (the emulator) still accepts `refresh` from the app's OAuth client: false
    /// once the grant has been revoked.
    pub async fn refresh_token_works(&self, refresh: &str) -> bool {
        crate::http_client()
            .post(format!("{}token", self.emu.url()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", "invigilator-local"),
                ("client_secret", "invigilator-local-secret"),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    }

    /// Sends a page's form as a browser does: urlencoded, with the CSRF token.
    pub async fn submit_form(
        &self,
        browser: &mut Browser,
        token: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let mut pairs: Vec<(String, String)> = vec![("csrf_token".into(), token.into())];
        pairs.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        browser
            .request(
                Method::POST,
                &self.url(path),
                Some(RequestBody::Form(pairs)),
            )
            .await
    }

    /// Signs `email` in through Google; returns the final page.
    pub async fn sign_in(&self, browser: &mut Browser, email: &str) -> Page {
        browser.follow(&self.url("/auth/login"), Some(email)).await
    }

    pub async fn school(&self) -> invigilator::tenancy::School {
        invigilator::tenancy::find_school_by_slug(&self.db.pool, "hillside")
            .await
            .unwrap()
            .unwrap()
    }

    /// The audit log's actions, oldest first.
    pub async fn audit_actions(&self) -> Vec<(String, serde_json::Value)> {
        sqlx::query_as("SELECT action, details FROM tenant_hillside.audit_log ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

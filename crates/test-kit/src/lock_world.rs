//! A signed-in teacher whose class has been synced into folders, with the school's Drive
//! operator connected: the starting point of the lock and onward-share tests.

use invigilator::google::GoogleClients;
use invigilator::lease::Leases;
use invigilator::portfolio::lock::{self, Applied};
use invigilator::roster::{self, Trigger};
use invigilator::tenancy::School;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::browser::{Browser, RequestBody, SignInWorld};
use crate::{DRIVE_SCOPE, OPERATOR, SHARED_DRIVE, TEACHER};

pub struct LockWorld {
    pub w: SignInWorld,
    pub teacher: Browser,
    pub csrf: String,
    pub school: School,
    pub google: GoogleClients,
    pub leases: Leases,
}

/// A signed-in teacher whose class has been synced and given folders.
pub async fn lock_world() -> LockWorld {
    let w = SignInWorld::new().await;
    let mut teacher = w.browser();
    assert_eq!(
        w.sign_in(&mut teacher, TEACHER).await.status,
        StatusCode::OK
    );
    let me: Value = serde_json::from_str(&teacher.get(&w.url("/api/me")).await.body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let school = w.school().await;
    let config = w.db.config(&[("GOOGLE_API_BASE_URL", &w.emu.url())]);
    let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
    let services = invigilator::services::Services::new(&config, w.db.pool.clone(), redis).unwrap();
    let google = services
        .google
        .with_retry_policy(invigilator::google::RetryPolicy::quick());
    let leases = services.leases;
    crate::connect_drive_operator(&w.db, &w.emu, &school, OPERATOR).await;
    // As the School Admin sets it; the workers read it from the settings.
    sqlx::query("UPDATE platform.tenants SET shared_drive_id = $1 WHERE id = $2")
        .bind(SHARED_DRIVE)
        .bind(school.id)
        .execute(&w.db.pool)
        .await
        .unwrap();
    roster::sync_school(&w.db.pool, &google, &leases, &school, Trigger::Cli)
        .await
        .unwrap();
    let folders = invigilator::portfolio::provision(&w.db.pool, &google, &school, SHARED_DRIVE)
        .await
        .unwrap();
    assert_eq!(folders.portfolio_folders, 3, "{:?}", folders.errors);
    LockWorld {
        w,
        teacher,
        csrf,
        school,
        google,
        leases,
    }
}

impl LockWorld {
    pub async fn portfolio_of(&self, email: &str) -> (Uuid, String) {
        sqlx::query_as(
            "SELECT p.id, p.drive_folder_id FROM tenant_hillside.portfolios p \
             JOIN tenant_hillside.students s ON s.id = p.student_id WHERE s.email = $1",
        )
        .bind(email)
        .fetch_one(&self.w.db.pool)
        .await
        .unwrap()
    }

    pub async fn post(&mut self, path: &str) -> crate::browser::Page {
        let body = RequestBody::Json(json!({}), Some(self.csrf.clone()));
        self.teacher
            .request(Method::POST, &self.w.url(path), Some(body))
            .await
    }

    pub async fn apply(&self, id: Uuid) -> Applied {
        lock::apply(
            &self.w.db.pool,
            &self.google,
            &self.leases,
            &self.school,
            id,
        )
        .await
        .unwrap()
    }

    /// Removes the student's permission on their folder directly in Drive, as a person could.
    pub async fn remove_student_permission(&self, id: Uuid, folder: &str) {
        let permission: String = sqlx::query_scalar(
            "SELECT permission_id FROM tenant_hillside.portfolios WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.w.db.pool)
        .await
        .unwrap();
        let token = self
            .w
            .emu
            .issue_access_token(OPERATOR, &[DRIVE_SCOPE], "invigilator-local")
            .unwrap();
        let removed = crate::http_client()
            .delete(format!(
                "{}drive/v3/files/{folder}/permissions/{permission}?supportsAllDrives=true",
                self.w.emu.url()
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(removed.status(), 204);
    }

    pub async fn versions(&self, id: Uuid) -> (i64, i64) {
        sqlx::query_as(
            "SELECT desired_version, applied_version FROM tenant_hillside.portfolios WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.w.db.pool)
        .await
        .unwrap()
    }
}

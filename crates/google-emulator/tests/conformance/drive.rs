//! Drive v3 conformance: every call goes through the real `google-drive3` crate, so its typed
//! structs must decode what the emulator sends.

use crate::support;

use std::collections::HashMap;
use std::io::Cursor;

use google_drive3::api::{File, Permission};
use google_emulator::paging::ShortPages;
use google_emulator::{FaultKind, FaultPlan, Quotas, Role};
use support::*;

async fn create_folder(
    hub: &google_drive3::DriveHub<hyper_util::client::legacy::connect::HttpConnector>,
    name: &str,
    parent: &str,
    props: &[(&str, &str)],
) -> Result<File, google_drive3::Error> {
    let file = File {
        name: Some(name.to_owned()),
        mime_type: Some(FOLDER.to_owned()),
        parents: Some(vec![parent.to_owned()]),
        app_properties: Some(
            props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        ),
        ..File::default()
    };
    hub.files()
        .create(file)
        .supports_all_drives(true)
        .param("fields", "id,name,mimeType,parents,driveId,appProperties")
        .upload(Cursor::new(Vec::<u8>::new()), FOLDER.parse().unwrap())
        .await
        .map(|(_, f)| f)
}

type Hub = google_drive3::DriveHub<hyper_util::client::legacy::connect::HttpConnector>;

/// Every permission on an item, all pages.
async fn all_permissions(hub: &Hub, id: &str) -> Vec<Permission> {
    let mut permissions = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = hub.permissions().list(id).supports_all_drives(true).param(
            "fields",
            "nextPageToken,permissions(id,role,emailAddress,type,permissionDetails)",
        );
        if let Some(t) = &token {
            call = call.page_token(t);
        }
        let (_, list) = call.doit().await.unwrap();
        permissions.extend(list.permissions.unwrap_or_default());
        token = list.next_page_token;
        if token.is_none() {
            return permissions;
        }
    }
}

#[tokio::test]
async fn a_folder_tree_and_a_student_permission_round_trip() {
    let emu = emulator(4).await;
    let hub = drive(&emu, &operator_token(&emu));

    let subject = create_folder(&hub, "Chemistry", DRIVE_ID, &[("invigilatorSubject", "s1")])
        .await
        .unwrap();
    assert_eq!(subject.name.as_deref(), Some("Chemistry"));
    assert_eq!(subject.parents, Some(vec![DRIVE_ID.to_owned()]));
    assert_eq!(subject.drive_id.as_deref(), Some(DRIVE_ID));
    let class = create_folder(
        &hub,
        "10X Chemistry (10X)",
        subject.id.as_deref().unwrap(),
        &[],
    )
    .await
    .unwrap();
    let class_id = class.id.unwrap();
    let portfolio = create_folder(
        &hub,
        "Pupil, Student0 — portfolio",
        &class_id,
        &[("invigilatorStudent", "42")],
    )
    .await
    .unwrap();
    let folder_id = portfolio.id.unwrap();
    assert_eq!(
        portfolio
            .app_properties
            .unwrap()
            .get("invigilatorStudent")
            .map(String::as_str),
        Some("42")
    );

    // Found again by appProperties, as an idempotent "ensure folder" does.
    let (_, found) = hub
        .files()
        .list()
        .q(&format!(
            "'{class_id}' in parents and mimeType = '{FOLDER}' and trashed = false and \
             appProperties has {{ key='invigilatorStudent' and value='42' }}"
        ))
        .corpora("drive")
        .drive_id(DRIVE_ID)
        .include_items_from_all_drives(true)
        .supports_all_drives(true)
        .param("fields", "nextPageToken,files(id,name,appProperties)")
        .doit()
        .await
        .unwrap();
    let found = found.files.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.as_deref(), Some(folder_id.as_str()));

    // The student gets one direct permission: writer, with no email sent.
    let student0 = student(0);
    let (_, created) = hub
        .permissions()
        .create(
            Permission {
                type_: Some("user".to_owned()),
                role: Some("writer".to_owned()),
                email_address: Some(student0.clone()),
                ..Permission::default()
            },
            &folder_id,
        )
        .send_notification_email(false)
        .supports_all_drives(true)
        .param("fields", "id,role,type,emailAddress,permissionDetails")
        .doit()
        .await
        .unwrap();
    let permission_id = created.id.clone().unwrap();
    assert_ne!(
        permission_id,
        emu.user(&student0).unwrap().id,
        "as in Drive, a permission id is not the account id"
    );
    assert_eq!(created.role.as_deref(), Some("writer"));
    assert_eq!(emu.access(&folder_id, &student0), Some(Role::Writer));
    // Not a member of the drive: no access to the class folder above.
    assert_eq!(emu.access(&class_id, &student0), None);

    // Lock: one call switches writer to reader.
    let (_, locked) = hub
        .permissions()
        .update(
            Permission {
                role: Some("reader".to_owned()),
                ..Permission::default()
            },
            &folder_id,
            &permission_id,
        )
        .supports_all_drives(true)
        .param("fields", "id,role")
        .doit()
        .await
        .unwrap();
    assert_eq!(locked.role.as_deref(), Some("reader"));
    assert_eq!(emu.access(&folder_id, &student0), Some(Role::Reader));

    // The list tells direct from inherited.
    let permissions = all_permissions(&hub, &folder_id).await;
    let mine = permissions
        .iter()
        .find(|p| p.email_address.as_deref() == Some(student0.as_str()))
        .unwrap();
    let details = mine.permission_details.as_ref().unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].inherited, Some(false));
    assert_eq!(details[0].permission_type.as_deref(), Some("file"));
    let operator = permissions
        .iter()
        .find(|p| p.email_address.as_deref() == Some(OPERATOR))
        .unwrap();
    assert_eq!(operator.role.as_deref(), Some("organizer"));
    let inherited = &operator.permission_details.as_ref().unwrap()[0];
    assert_eq!(inherited.inherited, Some(true));
    assert_eq!(inherited.inherited_from.as_deref(), Some(DRIVE_ID));
    assert_eq!(inherited.permission_type.as_deref(), Some("member"));

    // get and update of the file itself.
    let (_, got) = hub
        .files()
        .get(&folder_id)
        .supports_all_drives(true)
        .param("fields", "id,name,trashed,capabilities")
        .doit()
        .await
        .unwrap();
    assert_eq!(got.trashed, Some(false));
    let (_, renamed) = hub
        .files()
        .update(
            File {
                name: Some("Renamed".to_owned()),
                ..File::default()
            },
            &folder_id,
        )
        .supports_all_drives(true)
        .doit_without_upload()
        .await
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Renamed"));

    hub.permissions()
        .delete(&folder_id, &permission_id)
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap();
    assert_eq!(emu.access(&folder_id, &student0), None);
    assert_eq!(emu.stats().notification_emails, 0);
}

#[tokio::test]
async fn shared_drive_items_are_invisible_without_supports_all_drives() {
    let emu = emulator(0).await;
    let hub = drive(&emu, &operator_token(&emu));
    let folder = create_folder(&hub, "Maths", DRIVE_ID, &[]).await.unwrap();
    let err = hub
        .files()
        .get(folder.id.as_deref().unwrap())
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 404);
    assert_eq!(reason(&err), "notFound");
    let err = hub
        .files()
        .list()
        .drive_id(DRIVE_ID)
        .corpora("drive")
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 403);
    assert_eq!(reason(&err), "teamDriveAllDrivesRequired");
}

#[tokio::test]
async fn an_inherited_permission_cannot_be_reduced_on_a_child() {
    let emu = emulator(2).await;
    let hub = drive(&emu, &operator_token(&emu));
    let class = create_folder(&hub, "Class", DRIVE_ID, &[]).await.unwrap();
    let class_id = class.id.unwrap();
    let child = create_folder(&hub, "Child", &class_id, &[]).await.unwrap();
    let child_id = child.id.unwrap();
    let share = |role: &str, email: &str| Permission {
        type_: Some("user".to_owned()),
        role: Some(role.to_owned()),
        email_address: Some(email.to_owned()),
        ..Permission::default()
    };
    let (_, granted) = hub
        .permissions()
        .create(share("writer", &student(0)), &class_id)
        .send_notification_email(false)
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap();
    assert_eq!(
        emu.access(&child_id, &student(0)),
        Some(Role::Writer),
        "inherited"
    );

    for (role, email) in [("reader", student(0)), ("reader", OPERATOR.to_owned())] {
        let err = hub
            .permissions()
            .create(share(role, &email), &child_id)
            .send_notification_email(false)
            .supports_all_drives(true)
            .doit()
            .await
            .unwrap_err();
        assert_eq!(code(&err), 403, "{email}");
        assert_eq!(reason(&err), "cannotModifyInheritedTeamDrivePermission");
    }
    // Deleting an inherited permission on the child is refused too.
    let member_id = granted.id.unwrap();
    let err = hub
        .permissions()
        .delete(&child_id, &member_id)
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "cannotModifyInheritedTeamDrivePermission");
}

#[tokio::test]
async fn only_an_organizer_may_share_a_folder_in_a_shared_drive() {
    let emu = emulator(1).await;
    emu.create_shared_drive(
        Some("0AOther".into()),
        "Other",
        &[
            (OPERATOR.into(), Role::Organizer),
            (TEACHER.into(), Role::Writer),
        ],
    );
    let operator = drive(&emu, &operator_token(&emu));
    let folder = create_folder(&operator, "F", "0AOther", &[]).await.unwrap();
    let teacher = drive(
        &emu,
        &emu.issue_access_token(TEACHER, &[DRIVE_SCOPE], CLIENT_ID)
            .unwrap(),
    );
    let err = teacher
        .permissions()
        .create(
            Permission {
                type_: Some("user".into()),
                role: Some("writer".into()),
                email_address: Some(student(0)),
                ..Permission::default()
            },
            folder.id.as_deref().unwrap(),
        )
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "insufficientFilePermissions");
}

#[tokio::test]
async fn a_shared_drive_tells_its_manager_apart_and_hides_from_outsiders() {
    let emu = emulator(1).await;
    emu.create_shared_drive(
        Some("0AOther".into()),
        "Other",
        &[
            (OPERATOR.into(), Role::Organizer),
            (TEACHER.into(), Role::Writer),
        ],
    );
    let get = |token: String| {
        let hub = drive(&emu, &token);
        async move {
            hub.drives()
                .get("0AOther")
                .param("fields", "id,name,capabilities(canManageMembers)")
                .doit()
                .await
                .map(|(_, d)| d)
        }
    };
    let manager = get(operator_token(&emu)).await.unwrap();
    assert_eq!(manager.name.as_deref(), Some("Other"));
    assert_eq!(manager.capabilities.unwrap().can_manage_members, Some(true));
    let teacher_token = emu
        .issue_access_token(TEACHER, &[DRIVE_SCOPE], CLIENT_ID)
        .unwrap();
    let member = get(teacher_token).await.unwrap();
    assert_eq!(member.capabilities.unwrap().can_manage_members, Some(false));

    // Not a member, or no such drive: the same 404, so a drive's existence is not revealed.
    let outsider = emu
        .issue_access_token(&student(0), &[DRIVE_SCOPE], CLIENT_ID)
        .unwrap();
    let err = get(outsider).await.unwrap_err();
    assert_eq!(reason(&err), "notFound");
    let hub = drive(&emu, &operator_token(&emu));
    let err = hub.drives().get("0ANoSuchDrive").doit().await.unwrap_err();
    assert_eq!(reason(&err), "notFound");
    assert_eq!(error_body(&err)["error"]["code"], 404);
}

/// Every name `files.list` gives for the drive's top level, all pages; with the page sizes seen
/// and whether a short page came with a next-page token.
async fn list_top_level(
    hub: &google_drive3::DriveHub<hyper_util::client::legacy::connect::HttpConnector>,
    order_by: Option<&str>,
) -> (Vec<String>, Vec<usize>) {
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = hub
            .files()
            .list()
            .q(&format!("'{DRIVE_ID}' in parents and trashed = false"))
            .corpora("drive")
            .drive_id(DRIVE_ID)
            .include_items_from_all_drives(true)
            .supports_all_drives(true)
            .page_size(100)
            .param("fields", "nextPageToken,files(id,name)");
        if let Some(order) = order_by {
            call = call.order_by(order);
        }
        if let Some(t) = &token {
            call = call.page_token(t);
        }
        let (_, list) = call.doit().await.unwrap();
        let files = list.files.unwrap_or_default();
        sizes.push(files.len());
        seen.extend(files.into_iter().map(|f| f.name.unwrap()));
        token = list.next_page_token;
        if token.is_none() {
            return (seen, sizes);
        }
    }
}

#[tokio::test]
async fn listing_pages_through_every_folder_once() {
    let emu = emulator(0).await;
    emu.update_settings(|s| s.max_page_size = Some(7));
    let hub = drive(&emu, &operator_token(&emu));
    for i in 0..25 {
        create_folder(&hub, &format!("Folder {i:02}"), DRIVE_ID, &[])
            .await
            .unwrap();
    }
    let expected: Vec<String> = (0..25).map(|i| format!("Folder {i:02}")).collect();
    // By default some pages come up short (even empty) before the end, as Google's may.
    let (seen, sizes) = list_top_level(&hub, None).await;
    assert_eq!(seen, expected);
    let (before_last, _) = sizes.split_at(sizes.len() - 1);
    assert!(
        before_last.iter().any(|n| *n < 7) && sizes.len() > 4,
        "some page but the last is short: {sizes:?}"
    );
    assert_eq!(list_top_level(&hub, None).await.1, sizes, "repeatable");

    emu.update_settings(|s| s.short_pages = ShortPages::Never);
    let (seen, sizes) = list_top_level(&hub, None).await;
    assert_eq!(seen, expected);
    assert_eq!(sizes, [7, 7, 7, 4]);

    let err = hub
        .files()
        .list()
        .corpora("drive")
        .drive_id(DRIVE_ID)
        .include_items_from_all_drives(true)
        .supports_all_drives(true)
        .page_token("not-a-token")
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 400);
    // A page size above the maximum is reduced to it, not refused.
    hub.files()
        .list()
        .corpora("drive")
        .drive_id(DRIVE_ID)
        .include_items_from_all_drives(true)
        .supports_all_drives(true)
        .page_size(5000)
        .doit()
        .await
        .unwrap();
    hub.permissions()
        .list(DRIVE_ID)
        .supports_all_drives(true)
        .page_size(500)
        .doit()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_page_size_cap_can_be_cleared_through_the_admin_api() {
    let emu = emulator(0).await;
    let settings = |body: serde_json::Value| {
        let url = format!("{}emulator/settings", emu.url());
        async move {
            let response = http_client(true).put(url).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 204);
        }
    };
    settings(serde_json::json!({"max_page_size": 3, "short_pages": false})).await;
    assert_eq!(emu.settings().max_page_size, Some(3));
    assert_eq!(emu.settings().short_pages, ShortPages::Never);
    settings(serde_json::json!({"auto_consent": true})).await;
    assert_eq!(emu.settings().max_page_size, Some(3), "absent: unchanged");
    settings(serde_json::json!({"max_page_size": null, "short_page_seed": 5})).await;
    assert_eq!(emu.settings().max_page_size, None, "null clears the cap");
    assert_eq!(emu.settings().short_pages, ShortPages::Seeded(5));
}

/// Uploads a file with `content` under `parent`, as google-drive3 does (multipart).
async fn upload_file(
    hub: &google_drive3::DriveHub<hyper_util::client::legacy::connect::HttpConnector>,
    name: &str,
    parent: &str,
    content: &[u8],
) -> File {
    let file = File {
        name: Some(name.to_owned()),
        parents: Some(vec![parent.to_owned()]),
        ..File::default()
    };
    hub.files()
        .create(file)
        .supports_all_drives(true)
        .param("fields", "id,name,mimeType,size")
        .upload(Cursor::new(content.to_vec()), "text/plain".parse().unwrap())
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn create_and_update_refuse_fields_they_cannot_write() {
    let emu = emulator(0).await;
    let hub = drive(&emu, &operator_token(&emu));
    let from = create_folder(&hub, "From", DRIVE_ID, &[]).await.unwrap();
    let to = create_folder(&hub, "To", DRIVE_ID, &[]).await.unwrap();
    let (from, to) = (from.id.unwrap(), to.id.unwrap());

    // driveId is output only.
    let err = hub
        .files()
        .create(File {
            name: Some("Sneaky".to_owned()),
            mime_type: Some(FOLDER.to_owned()),
            parents: Some(vec![DRIVE_ID.to_owned()]),
            drive_id: Some(DRIVE_ID.to_owned()),
            ..File::default()
        })
        .supports_all_drives(true)
        .upload(Cursor::new(Vec::<u8>::new()), FOLDER.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!((code(&err), reason(&err)), (403, "fieldNotWritable".into()));

    // A move sets no parents in the body; it uses addParents and removeParents.
    let child = create_folder(&hub, "Child", &from, &[]).await.unwrap();
    let child = child.id.unwrap();
    let err = hub
        .files()
        .update(
            File {
                parents: Some(vec![to.clone()]),
                ..File::default()
            },
            &child,
        )
        .supports_all_drives(true)
        .doit_without_upload()
        .await
        .unwrap_err();
    assert_eq!((code(&err), reason(&err)), (403, "fieldNotWritable".into()));
    let (_, moved) = hub
        .files()
        .update(File::default(), &child)
        .add_parents(&to)
        .remove_parents(&from)
        .supports_all_drives(true)
        .param("fields", "id,parents")
        .doit_without_upload()
        .await
        .unwrap();
    assert_eq!(moved.parents, Some(vec![to]));
}

#[tokio::test]
async fn order_by_takes_several_keys_each_with_its_direction() {
    let emu = emulator(0).await;
    emu.update_settings(|s| s.max_page_size = Some(2));
    let hub = drive(&emu, &operator_token(&emu));
    for name in ["b folder", "a folder", "c folder"] {
        create_folder(&hub, name, DRIVE_ID, &[]).await.unwrap();
    }
    for name in ["b file", "a file"] {
        upload_file(&hub, name, DRIVE_ID, b"x").await;
    }
    let (names, _) = list_top_level(&hub, Some("folder,name desc")).await;
    assert_eq!(
        names,
        ["c folder", "b folder", "a folder", "b file", "a file"],
        "folders first, then by name descending"
    );
    let (names, _) = list_top_level(&hub, Some("folder desc,name")).await;
    assert_eq!(
        names,
        ["a file", "b file", "a folder", "b folder", "c folder"]
    );
    let (names, _) = list_top_level(&hub, Some("createdTime desc")).await;
    assert_eq!(
        names,
        ["a file", "b file", "c folder", "a folder", "b folder"]
    );
    let err = hub
        .files()
        .list()
        .order_by("title")
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 400);
}

#[tokio::test]
async fn downloads_return_the_content_uploaded() {
    let emu = emulator(0).await;
    let token = operator_token(&emu);
    let hub = drive(&emu, &token);
    let file = upload_file(&hub, "essay.txt", DRIVE_ID, b"My essay, first draft").await;
    let id = file.id.unwrap();
    assert_eq!(file.size, Some(21));
    let download = |id: String| {
        let url = format!(
            "{}drive/v3/files/{id}?alt=media&supportsAllDrives=true",
            emu.url()
        );
        let token = token.clone();
        async move {
            http_client(true)
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let response = download(id.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.text().await.unwrap(), "My essay, first draft");

    // New content through an upload update.
    hub.files()
        .update(File::default(), &id)
        .supports_all_drives(true)
        .upload(
            Cursor::new(b"Second draft".to_vec()),
            "text/plain".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(download(id).await.text().await.unwrap(), "Second draft");

    // A folder has nothing to download.
    let folder = create_folder(&hub, "F", DRIVE_ID, &[]).await.unwrap();
    let response = download(folder.id.unwrap()).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["errors"][0]["reason"], "fileNotDownloadable");
}

#[tokio::test]
async fn notification_emails_are_refused_for_domain_and_anyone_grants() {
    let emu = emulator(0).await;
    let hub = drive(&emu, &operator_token(&emu));
    let folder = create_folder(&hub, "F", DRIVE_ID, &[]).await.unwrap();
    let folder = folder.id.unwrap();
    let grants = [
        Permission {
            type_: Some("domain".into()),
            role: Some("reader".into()),
            domain: Some(DOMAIN.into()),
            ..Permission::default()
        },
        Permission {
            type_: Some("anyone".into()),
            role: Some("reader".into()),
            ..Permission::default()
        },
    ];
    for grant in grants {
        for send in [true, false] {
            let err = hub
                .permissions()
                .create(grant.clone(), &folder)
                .send_notification_email(send)
                .supports_all_drives(true)
                .doit()
                .await
                .unwrap_err();
            assert_eq!(
                (code(&err), reason(&err)),
                (400, "invalidSharingRequest".into())
            );
        }
        hub.permissions()
            .create(grant, &folder)
            .supports_all_drives(true)
            .doit()
            .await
            .unwrap();
    }
    assert_eq!(emu.stats().notification_emails, 0);
}

/// Whether sharing `id` with a student (reader) succeeds.
async fn share_with_student(hub: &Hub, id: &str) -> bool {
    hub.permissions()
        .create(
            Permission {
                type_: Some("user".into()),
                role: Some("reader".into()),
                email_address: Some(student(0)),
                ..Permission::default()
            },
            id,
        )
        .send_notification_email(false)
        .supports_all_drives(true)
        .doit()
        .await
        .is_ok()
}

#[tokio::test]
async fn can_share_says_what_sharing_then_allows() {
    let emu = emulator(1).await;
    emu.create_shared_drive(
        Some("0AOther".into()),
        "Other",
        &[
            (OPERATOR.into(), Role::Organizer),
            (TEACHER.into(), Role::Writer),
        ],
    );
    let operator = drive(&emu, &operator_token(&emu));
    let folder = create_folder(&operator, "F", "0AOther", &[]).await.unwrap();
    let file = upload_file(&operator, "f.txt", "0AOther", b"x").await;
    let teacher = drive(
        &emu,
        &emu.issue_access_token(TEACHER, &[DRIVE_SCOPE], CLIENT_ID)
            .unwrap(),
    );
    for (hub, who) in [(&operator, "organizer"), (&teacher, "writer")] {
        for id in [folder.id.clone().unwrap(), file.id.clone().unwrap()] {
            let (_, got) = hub
                .files()
                .get(&id)
                .supports_all_drives(true)
                .param("fields", "capabilities(canShare)")
                .doit()
                .await
                .unwrap();
            let can_share = got.capabilities.unwrap().can_share.unwrap();
            assert_eq!(
                can_share,
                share_with_student(hub, &id).await,
                "{who} on {id}"
            );
        }
    }
}

async fn app_properties(hub: &Hub, id: &str) -> HashMap<String, String> {
    hub.files()
        .get(id)
        .supports_all_drives(true)
        .param("fields", "appProperties")
        .doit()
        .await
        .unwrap()
        .1
        .app_properties
        .unwrap_or_default()
}

/// How many items a search by `invigilatorStudent = 42` finds, all pages.
async fn found_by_app_property(hub: &Hub) -> usize {
    let mut found = 0;
    let mut token: Option<String> = None;
    loop {
        let mut call = hub
            .files()
            .list()
            .q("appProperties has { key='invigilatorStudent' and value='42' }")
            .corpora("drive")
            .drive_id(DRIVE_ID)
            .include_items_from_all_drives(true)
            .supports_all_drives(true);
        if let Some(t) = &token {
            call = call.page_token(t);
        }
        let (_, list) = call.doit().await.unwrap();
        found += list.files.unwrap_or_default().len();
        token = list.next_page_token;
        if token.is_none() {
            return found;
        }
    }
}

#[tokio::test]
async fn app_properties_are_private_to_the_client_that_set_them() {
    let emu = emulator(0).await;
    emu.add_client("another-app", "secret");
    let ours = drive(&emu, &operator_token(&emu));
    let theirs = drive(
        &emu,
        &emu.issue_access_token(OPERATOR, &[DRIVE_SCOPE], "another-app")
            .unwrap(),
    );
    let folder = create_folder(&ours, "Marked", DRIVE_ID, &[("invigilatorStudent", "42")])
        .await
        .unwrap();
    let id = folder.id.unwrap();
    assert_eq!(
        app_properties(&ours, &id)
            .await
            .get("invigilatorStudent")
            .map(String::as_str),
        Some("42")
    );
    assert!(
        app_properties(&theirs, &id).await.is_empty(),
        "another app sees none"
    );
    assert_eq!(found_by_app_property(&ours).await, 1);
    assert_eq!(
        found_by_app_property(&theirs).await,
        0,
        "nor finds the folder by them"
    );
    // Their own property with the same key leaves ours alone.
    theirs
        .files()
        .update(
            File {
                app_properties: Some([("invigilatorStudent".into(), "7".into())].into()),
                ..File::default()
            },
            &id,
        )
        .supports_all_drives(true)
        .doit_without_upload()
        .await
        .unwrap();
    assert_eq!(app_properties(&ours, &id).await["invigilatorStudent"], "42");
    assert_eq!(
        app_properties(&theirs, &id).await["invigilatorStudent"],
        "7"
    );
}

#[tokio::test]
async fn bad_input_answers_as_google_does() {
    let emu = emulator(0).await;
    let hub = drive(&emu, &operator_token(&emu));
    // A query the emulator does not understand.
    let err = hub
        .files()
        .list()
        .q("owner = 'someone'")
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 400);
    assert_eq!(reason(&err), "invalid");
    // Unknown file.
    let err = hub
        .files()
        .get("1doesnotexist")
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 404);
    assert_eq!(
        error_body(&err)["error"]["message"],
        "File not found: 1doesnotexist."
    );
    // Wrong token.
    let stranger = drive(&emu, "ya29.not-a-real-token");
    let err = stranger
        .files()
        .get(DRIVE_ID)
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 401);
    assert_eq!(reason(&err), "authError");
    // A token without the Drive scope.
    let teacher = drive(&emu, &teacher_token(&emu));
    let err = teacher
        .files()
        .get(DRIVE_ID)
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 403);
    assert_eq!(reason(&err), "insufficientPermissions");
    // A bad field mask.
    let err = hub
        .files()
        .get(DRIVE_ID)
        .supports_all_drives(true)
        .param("fields", "id,(")
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 400);
    // An expired token.
    emu.expire_access_tokens();
    let err = hub
        .files()
        .get(DRIVE_ID)
        .supports_all_drives(true)
        .doit()
        .await
        .unwrap_err();
    assert_eq!(code(&err), 401);
}

#[tokio::test]
async fn the_plain_json_create_form_works_too() {
    let emu = emulator(0).await;
    let token = operator_token(&emu);
    let response = http_client(true)
        .post(format!(
            "{}drive/v3/files?supportsAllDrives=true&fields=id,name,driveId",
            emu.url()
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Plain", "mimeType": FOLDER, "parents": [DRIVE_ID]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Plain");
    assert_eq!(body["driveId"], DRIVE_ID);
    assert!(
        body.get("parents").is_none(),
        "only the requested fields: {body}"
    );
}

#[tokio::test]
async fn quotas_answer_with_the_right_reason_and_retry_after() {
    let emu = emulator(0).await;
    emu.set_quotas(Quotas {
        per_user_per_second: Some(5.0),
        per_project_per_second: None,
    });
    let hub = drive(&emu, &operator_token(&emu));
    let mut refused = 0;
    for _ in 0..12 {
        match hub
            .files()
            .get(DRIVE_ID)
            .supports_all_drives(true)
            .doit()
            .await
        {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(code(&e), 403);
                assert_eq!(reason(&e), "userRateLimitExceeded");
                refused += 1;
            }
        }
    }
    assert!(refused >= 6, "only {refused} refused");
    // Retry-After is sent.
    let response = http_client(true)
        .get(format!(
            "{}drive/v3/files/{DRIVE_ID}?supportsAllDrives=true",
            emu.url()
        ))
        .bearer_auth(operator_token(&emu))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["retry-after"], "1");

    emu.set_quotas(Quotas {
        per_user_per_second: None,
        per_project_per_second: Some(2.0),
    });
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut reasons = Vec::new();
    for _ in 0..5 {
        if let Err(e) = hub
            .files()
            .get(DRIVE_ID)
            .supports_all_drives(true)
            .doit()
            .await
        {
            reasons.push(reason(&e));
        }
    }
    assert!(reasons.iter().all(|r| r == "rateLimitExceeded") && !reasons.is_empty());
}

#[tokio::test]
async fn injected_faults_reach_the_client_as_errors_never_panics() {
    let emu = emulator(0).await;
    let hub = drive(&emu, &operator_token(&emu));
    emu.set_faults(
        "drive.files.get",
        FaultPlan {
            next: vec![
                FaultKind::Error503,
                FaultKind::Error500,
                FaultKind::Error429,
                FaultKind::SharingRateLimit,
                FaultKind::HtmlError,
                FaultKind::MalformedJson,
                FaultKind::Truncated,
                FaultKind::ConnectionReset,
            ],
            ..FaultPlan::default()
        },
    );
    let get = || hub.files().get(DRIVE_ID).supports_all_drives(true).doit();
    assert_eq!(code(&get().await.unwrap_err()), 503);
    assert_eq!(code(&get().await.unwrap_err()), 500);
    assert_eq!(code(&get().await.unwrap_err()), 429);
    assert_eq!(
        reason(&get().await.unwrap_err()),
        "sharingRateLimitExceeded"
    );
    assert!(
        matches!(get().await.unwrap_err(), google_drive3::Error::Failure(r) if r.status() == 502)
    );
    assert!(matches!(
        get().await.unwrap_err(),
        google_drive3::Error::JsonDecodeError(..)
    ));
    assert!(matches!(
        get().await.unwrap_err(),
        google_drive3::Error::JsonDecodeError(..)
    ));
    let reset = get().await.unwrap_err();
    assert!(
        matches!(
            reset,
            google_drive3::Error::HttpError(_)
                | google_drive3::Error::Io(_)
                | google_drive3::Error::JsonDecodeError(..)
        ),
        "{reset:?}"
    );
    // The queue is spent: the next call succeeds.
    get().await.unwrap();
    let calls = emu.stats().calls["drive.files.get"].clone();
    assert_eq!(calls.get(&503), Some(&1));
    assert_eq!(calls.get(&200).copied().unwrap_or_default(), 4);
    // The cut-off answer reached the client: it did not quietly try again.
    assert_eq!(emu.calls("drive.files.get"), 9);
}

#[tokio::test]
async fn many_concurrent_clients_are_served_correctly() {
    let emu = emulator(200).await;
    let token = operator_token(&emu);
    let class = create_folder(&drive(&emu, &token), "Class", DRIVE_ID, &[])
        .await
        .unwrap();
    let class_id = class.id.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let hub = drive(&emu, &token);
        let class_id = class_id.clone();
        tasks.spawn(async move {
            let folder = create_folder(&hub, &format!("S{i}"), &class_id, &[])
                .await
                .unwrap();
            hub.permissions()
                .create(
                    Permission {
                        type_: Some("user".into()),
                        role: Some("writer".into()),
                        email_address: Some(student(i)),
                        ..Permission::default()
                    },
                    folder.id.as_deref().unwrap(),
                )
                .send_notification_email(false)
                .supports_all_drives(true)
                .doit()
                .await
                .unwrap();
            (folder.id.unwrap(), student(i))
        });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.len(), 200);
    for (folder, email) in &results {
        assert_eq!(emu.access(folder, email), Some(Role::Writer));
    }
    assert_eq!(emu.files_in_drive(DRIVE_ID).len(), 201);
}

#[tokio::test]
async fn a_reset_connection_cuts_the_answer_off_mid_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let emu = emulator(0).await;
    emu.set_faults(
        "drive.files.get",
        FaultPlan {
            next: vec![FaultKind::ConnectionReset],
            ..FaultPlan::default()
        },
    );
    let mut stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let request = format!(
        "GET /drive/v3/files/{DRIVE_ID}?supportsAllDrives=true HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {}\r\n\r\n",
        emu.addr(),
        operator_token(&emu)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    // Read until the emulator drops the connection (EOF or a reset).
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers were sent");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let promised: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("a length is promised")
        .trim()
        .parse()
        .unwrap();
    assert!(
        !body.is_empty() && body.len() < promised,
        "part of the body, not all {promised} bytes: {body:?}"
    );
}

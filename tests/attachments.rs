//! Photos and signatures through the real App: content-type sniffing, size
//! limits, thumbnails, durable content-addressed storage, and who may see them.

mod common;

use common::*;
use quant::domain::user::Role;
use serde_json::Value;
use std::io::Cursor;

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([(x % 200) as u8, 40, 40]));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap();
    out
}

/// Inserts a customer, an employee linked to `tech_user_id`, and a work order
/// assigned to that employee with `status`. Returns the work order id.
async fn fixture(app: &TestApp, tech_user_id: Option<String>, status: &'static str) -> String {
    let now = quant::clock::format_ts(chrono::Utc::now());
    let ids: (String, String, String) = (
        quant::domain::ids::new_id(chrono::Utc::now()).to_string(),
        quant::domain::ids::new_id(chrono::Utc::now()).to_string(),
        quant::domain::ids::new_id(chrono::Utc::now()).to_string(),
    );
    let (cust, emp, wo) = ids.clone();
    app.state
        .db
        .write(move |c| {
            c.execute(
                "INSERT INTO customers (id, name, created_at, updated_at) VALUES (?1, 'Pat', ?2, ?2)",
                rusqlite::params![cust, now],
            )?;
            c.execute(
                "INSERT INTO employees (id, name, user_id, created_at, updated_at) VALUES (?1, 'Tech', ?2, ?3, ?3)",
                rusqlite::params![emp, tech_user_id, now],
            )?;
            let n = quant::db::audit::next_number(c, "work_order")?;
            c.execute(
                "INSERT INTO work_orders (id, number, customer_id, service_type, status, assigned_employee_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'Leak repair', ?4, ?5, ?6, ?6)",
                rusqlite::params![wo, n, cust, status, emp, now],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    ids.2
}

async fn upload(
    app: &TestApp,
    c: &reqwest::Client,
    wo: &str,
    kind: &str,
    bytes: Vec<u8>,
    ct: &str,
) -> reqwest::Response {
    c.post(app.url(&format!("/api/v1/work-orders/{wo}/attachments?kind={kind}")))
        .header("content-type", ct)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_serve_thumbnail_and_store_durably() {
    let app = TestApp::start().await;
    let tech = app.user("tech@example.com", Role::Technician).await;
    app.user("office@example.com", Role::Office).await;
    let wo = fixture(&app, Some(tech.id.clone()), "in_progress").await;
    let t = app.login("tech@example.com").await;
    let photo = png(1200, 900);
    // The client's Content-Type is ignored: the content decides.
    let r = upload(
        &app,
        &t,
        &wo,
        "before",
        photo.clone(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(r.status(), 201);
    let att: Value = r.json().await.unwrap();
    assert_eq!(att["contentType"], "image/png");
    assert_eq!(
        (att["width"].as_i64(), att["height"].as_i64()),
        (Some(1200), Some(900))
    );
    assert_eq!(att["sizeBytes"].as_i64(), Some(photo.len() as i64));
    assert_eq!(att["kind"], "before");
    let sha = att["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha, quant::blobs::address_of(&photo));
    // On disk at its content address.
    let on_disk = app.dir.path().join("blobs").join(&sha[..2]).join(&sha);
    assert_eq!(std::fs::read(&on_disk).unwrap(), photo);

    let r = t
        .get(app.url(att["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().to_vec(), photo);
    let r = t
        .get(app.url(att["thumbnailUrl"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let thumb = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 240));

    // Office staff see it too; the list has it.
    let o = app.login("office@example.com").await;
    let list: Value = o
        .get(app.url(&format!("/api/v1/work-orders/{wo}/attachments")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // The same picture again is stored once.
    let r = upload(&app, &t, &wo, "after", photo.clone(), "image/png").await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        std::fs::read_dir(on_disk.parent().unwrap())
            .unwrap()
            .count(),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_multipart_and_deletion() {
    let app = TestApp::start().await;
    app.user("office@example.com", Role::Office).await;
    let o = app.login("office@example.com").await;
    let wo = fixture(&app, None, "in_progress").await;
    let form = reqwest::multipart::Form::new()
        .text("note", "ignored")
        .part(
            "file",
            reqwest::multipart::Part::bytes(jpeg(400, 200)).file_name("sig.jpg"),
        );
    let r = o
        .post(app.url(&format!(
            "/api/v1/work-orders/{wo}/attachments?kind=signature"
        )))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let att: Value = r.json().await.unwrap();
    assert_eq!(att["contentType"], "image/jpeg");
    let id = att["id"].as_str().unwrap().to_string();
    let wo2 = wo.clone();
    let sig: Option<String> = app
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT signature_id FROM work_orders WHERE id = ?1",
                [wo2],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(sig.as_deref(), Some(id.as_str()));
    assert_eq!(
        o.delete(app.url(&format!("/api/v1/attachments/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let sig: Option<String> = app
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT signature_id FROM work_orders WHERE id = ?1",
                [wo],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(sig, None);
    assert_eq!(
        o.get(app.url(&format!("/api/v1/attachments/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let audit: i64 = app
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM audit_log WHERE entity = 'attachment'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(audit, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_nothing_is_recorded() {
    let app = TestApp::start_with(|c| c.attachments.max_bytes = 64 * 1024).await;
    app.user("office@example.com", Role::Office).await;
    let o = app.login("office@example.com").await;
    let wo = fixture(&app, None, "scheduled").await;
    let r = upload(
        &app,
        &o,
        &wo,
        "before",
        b"just some text, not a picture".to_vec(),
        "image/png",
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["fields"]["file"]
            .as_str()
            .unwrap()
            .contains("JPEG, PNG or WebP"),
        "{v}"
    );
    let mut broken = png(300, 300);
    broken.truncate(200);
    assert_eq!(
        upload(&app, &o, &wo, "before", broken, "image/png")
            .await
            .status(),
        400
    );
    assert_eq!(
        upload(&app, &o, &wo, "before", vec![], "image/png")
            .await
            .status(),
        400
    );
    let big = vec![0u8; 200 * 1024];
    let r = upload(&app, &o, &wo, "before", big, "image/png").await;
    assert_eq!(r.status(), 413);
    assert_eq!(
        upload(&app, &o, &wo, "sideways", png(10, 10), "image/png")
            .await
            .status(),
        400
    );
    assert_eq!(
        upload(
            &app,
            &o,
            "0190b7a0-0000-7000-8000-000000000000",
            "before",
            png(10, 10),
            "image/png"
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        upload(&app, &o, "nope", "before", png(10, 10), "image/png")
            .await
            .status(),
        404
    );
    let n: i64 = app
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM attachments", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 0);
    let cancelled = fixture(&app, None, "cancelled").await;
    assert_eq!(
        upload(&app, &o, &cancelled, "after", png(10, 10), "image/png")
            .await
            .status(),
        409
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_see_only_their_own_work_orders_photos() {
    let app = TestApp::start().await;
    let mine = app.user("mine@example.com", Role::Technician).await;
    let other = app.user("other@example.com", Role::Technician).await;
    app.user("office@example.com", Role::Office).await;
    let wo = fixture(&app, Some(other.id.clone()), "in_progress").await;
    let _ = mine;
    let o = app.login("office@example.com").await;
    let att: Value = upload(&app, &o, &wo, "before", png(50, 50), "image/png")
        .await
        .json()
        .await
        .unwrap();
    let t = app.login("mine@example.com").await;
    assert_eq!(
        upload(&app, &t, &wo, "after", png(50, 50), "image/png")
            .await
            .status(),
        403
    );
    assert_eq!(
        t.get(app.url(att["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        t.get(app.url(att["thumbnailUrl"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        t.get(app.url(&format!("/api/v1/work-orders/{wo}/attachments")))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        t.delete(app.url(att["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        client()
            .get(app.url(att["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    app.stop().await;
}

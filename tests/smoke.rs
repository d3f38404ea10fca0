mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_app_answers_health() {
    let app = TestApp::start().await;
    let r = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    app.stop().await;
}

#[test]
fn binary_serves_and_prints_setup_link() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = quant_cmd();
    cmd.args([
        "--data",
        dir.path().to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    let s = serve(cmd);
    let link = s.wait_line(std::time::Duration::from_secs(5), |l| {
        l.contains("/setup?token=")
    });
    assert!(link.is_some());
}

//! `minibase-fakes`: the fake WeChat API and the fake WeChat Pay as one process, for tests
//! written in other languages (the JS SDK's end-to-end tests in `sdk/js/test/e2e`).
//!
//! Starts both fakes on random loopback ports (WeChat lenient: any login code is accepted
//! once, `openid:NAME[:…]` signs in as `NAME`; WeChat Pay in public-key mode), writes the
//! merchant and WeChat Pay key files into `--dir DIR` (a temporary directory when not given),
//! and prints one JSON line on stdout with everything a `minibase.toml` needs:
//!
//! ```json
//! {"wechat":{"url","appid","secret"},
//!  "pay":{"url","mchid","appid","merchant_serial_no","merchant_key_file","public_key_id",
//!         "public_key_file","apiv3_key","merchant_public_key_pem"},
//!  "control":"http://127.0.0.1:PORT"}
//! ```
//!
//! The fake WeChat is scripted through its own `/_fake/…` routes (phone codes, faults). The
//! control server drives the fake WeChat Pay: `POST /pay {"out_trade_no"}` (the payer pays;
//! the notification is delivered and the delivery statuses answered), `POST /notify-redirect
//! {"origin"}` (deliver notifications to the server's real address, known only once it
//! runs), `GET /orders/{out_trade_no}` (the fake's view of an order).
//!
//! Stops on stdin EOF (the parent test process went away) or SIGTERM/SIGINT.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minibase_testkit::fake_pay::SignMode;
use minibase_testkit::{FakeWechat, FakeWechatOptions, FakeWechatPay};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

fn main() -> ExitCode {
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                eprintln!("usage: minibase-fakes [--dir DIR]   (see the file's doc comment)");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("minibase-fakes: unknown argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("minibase-fakes: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minibase-fakes: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(dir: Option<PathBuf>) -> Result<(), String> {
    let (_tmp, dir) = match dir {
        Some(d) => (None, d),
        None => {
            let t = tempfile::tempdir().map_err(|e| e.to_string())?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let wechat = FakeWechat::start_with(FakeWechatOptions {
        lenient: true,
        ..Default::default()
    })
    .await;
    let pay = Arc::new(FakeWechatPay::start(SignMode::PublicKey).await);
    let mut cfg = config::Config::default();
    let files = pay.configure(
        &mut cfg,
        &dir,
        "https://api.example.com/api/pay/wechat/notify",
    );
    let merchant_public_key_pem = pay
        .merchant_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;

    let control = Router::new()
        .route("/pay", post(pay_order))
        .route("/notify-redirect", post(notify_redirect))
        .route("/orders/{out_trade_no}", get(order))
        .with_state(pay.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let control_addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, control).await;
    });

    let line = json!({
        "wechat": {"url": wechat.url(), "appid": wechat.appid(), "secret": wechat.secret()},
        "pay": {
            "url": pay.url(),
            "mchid": pay.mchid(),
            "appid": pay.appid(),
            "merchant_serial_no": pay.merchant_serial(),
            "merchant_key_file": files.merchant_key_file,
            "public_key_id": pay.public_key_id(),
            "public_key_file": files.public_key_file,
            "apiv3_key": pay.apiv3_key(),
            "merchant_public_key_pem": merchant_public_key_pem,
        },
        "control": format!("http://{control_addr}"),
    });
    println!("{line}");

    wait_for_end().await;
    wechat.stop().await;
    Ok(())
}

/// Resolves when stdin reaches EOF (or fails), or on SIGTERM/SIGINT.
async fn wait_for_end() {
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let signal = async {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut t), Ok(mut i)) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = i.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = stdin_closed => {}
        _ = signal => {}
    }
}

type Pay = State<Arc<FakeWechatPay>>;

fn bad(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": msg }))).into_response()
}

fn out_trade_no(body: &Value) -> Option<&str> {
    body.get("out_trade_no").and_then(Value::as_str)
}

/// `POST /pay {"out_trade_no"}`: the payer pays an unpaid order.
async fn pay_order(State(pay): Pay, axum::Json(body): axum::Json<Value>) -> Response {
    let Some(no) = out_trade_no(&body) else {
        return bad("out_trade_no missing");
    };
    match pay.order(no) {
        None => return bad("no such order at the fake"),
        Some(o) if o["trade_state"] != "NOTPAY" => return bad("the order is not NOTPAY"),
        Some(_) => {}
    }
    let deliveries = pay.pay(no).await;
    let statuses: Vec<u16> = deliveries.iter().map(|d| d.status).collect();
    axum::Json(json!({ "deliveries": statuses })).into_response()
}

/// `POST /notify-redirect {"origin"}`.
async fn notify_redirect(State(pay): Pay, axum::Json(body): axum::Json<Value>) -> Response {
    match body.get("origin").and_then(Value::as_str) {
        Some(origin) => {
            pay.redirect_notifications_to(origin);
            StatusCode::NO_CONTENT.into_response()
        }
        None => bad("origin missing"),
    }
}

/// `GET /orders/{out_trade_no}`: the fake's view of an order.
async fn order(State(pay): Pay, Path(no): Path<String>) -> Response {
    match pay.order(&no) {
        Some(o) => axum::Json(o).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({}))).into_response(),
    }
}

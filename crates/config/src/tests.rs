use super::*;
use std::collections::BTreeMap;
use std::io::Write;

fn from_toml(text: &str) -> Result<Config, ConfigError> {
    from_toml_env(text, &[])
}

fn from_toml_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minibase.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load_from(
        Sources {
            file: Some(path),
            env,
        },
        None,
    )
}

fn key_of(err: ConfigError) -> String {
    match err {
        ConfigError::Key { key, .. } => key,
        other => panic!("expected a key error, got {other}"),
    }
}

#[test]
fn empty_config_is_valid() {
    let c = from_toml("").unwrap();
    assert_eq!(c.auth.access_ttl.get().as_secs(), 7200);
    assert_eq!(c.limits.body.bytes(), 1 << 20);
    assert_eq!(c.tls.mode, TlsMode::Off);
}

#[test]
fn api_md_example_parses() {
    let c = from_toml(
        r#"
[server]
data_dir = "./mb_data"
http_addr = "127.0.0.1:8090"
https_addr = "0.0.0.0:443"
redirect_addr = "0.0.0.0:80"
domains = ["api.example.com"]
trusted_proxies = ["127.0.0.1/32"]
[limits]
rate_per_ip = 0
rate_burst = 0
body = "1MiB"
upload = "50MiB"
[tls]
mode = "off"
cert_file = "/etc/minibase/api.example.com_bundle.crt"
key_file = "/etc/minibase/api.example.com.key"
min_version = "1.2"
[tls.acme]
directory_url = "https://acme-v02.api.letsencrypt.org/directory"
email = "ops@example.com"
challenge = "http-01"
ca_file = ""
dns_provider = ""
[auth]
service_key = ""
jwt_secret = ""
access_ttl = "2h"
refresh_ttl = "30d"
dev_login = false
[wechat]
appid = "wx1234567890"
secret = ""
api_base = "https://api.weixin.qq.com"
push_token = ""
push_aes_key = ""
[wechat_pay]
mchid = ""
appid = ""
api_base = "https://api.mch.weixin.qq.com"
merchant_serial_no = ""
merchant_key_file = ""
apiv3_key = ""
public_key_id = ""
public_key_file = ""
platform_certs = true
notify_url = "https://api.example.com/api/pay/wechat/notify"
[database]
url = "sqlite://mb_data/data.db"
[storage]
url = "file://mb_data/storage"
signing_secret = ""
public_base_url = ""
[collections.todos]
read = "doc._openid == auth.openid"
write = "doc._openid == auth.openid"
indexes = [{ fields = ["_openid", "due"] }, { fields = ["code"], unique = true }]
[functions]
dir = "./functions"
"#,
    )
    .unwrap();
    assert!(c.collections["todos"].indexes[1].unique);
    assert!(c.database_url().ends_with("mb_data/data.db"));
    assert!(c.server.data_dir.is_absolute() || c.server.data_dir.starts_with("/"));
}

#[test]
fn unknown_keys_are_named() {
    assert_eq!(
        key_of(from_toml("[server]\nhttp_adr = \"x\"").unwrap_err()),
        "server.http_adr"
    );
    assert_eq!(key_of(from_toml("[serverr]\n").unwrap_err()), "serverr");
    assert_eq!(
        key_of(from_toml("[collections.todos]\nreed = true").unwrap_err()),
        "collections.todos.reed"
    );
}

#[test]
fn bad_values_are_named() {
    assert_eq!(
        key_of(from_toml("[auth]\naccess_ttl = \"2 hours\"").unwrap_err()),
        "auth.access_ttl"
    );
    assert_eq!(
        key_of(from_toml("[server]\nhttp_addr = \"localhost\"").unwrap_err()),
        "server.http_addr"
    );
    assert_eq!(
        key_of(from_toml("[limits]\nbody = \"1XB\"").unwrap_err()),
        "limits.body"
    );
    assert_eq!(
        key_of(from_toml("[limits]\nrate_per_ip = -1").unwrap_err()),
        "limits.rate_per_ip"
    );
    assert_eq!(
        key_of(from_toml("[tls]\nmode = \"magic\"").unwrap_err()),
        "tls.mode"
    );
    assert_eq!(
        key_of(from_toml("[tls]\nmin_version = \"1.1\"").unwrap_err()),
        "tls.min_version"
    );
    assert_eq!(
        key_of(from_toml("[server]\ntrusted_proxies = [\"nope\"]").unwrap_err()),
        "server.trusted_proxies[0]"
    );
    let e = from_toml("[tls]\nmode = \"files\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tls.cert_file"), "{e}");
}

#[test]
fn dev_login_refused_with_real_tls() {
    let e = from_toml(
        "[auth]\ndev_login = true\n[tls]\nmode = \"files\"\ncert_file = \"a\"\nkey_file = \"b\"",
    )
    .unwrap_err();
    assert_eq!(key_of(e), "auth.dev_login");
    assert!(from_toml("[auth]\ndev_login = true\n[tls]\nmode = \"self-signed\"").is_ok());
}

#[test]
fn env_overrides_file() {
    let c = from_toml_env(
        "[server]\nhttp_addr = \"127.0.0.1:1\"\n",
        &[
            ("MINIBASE_SERVER__HTTP_ADDR", "127.0.0.1:2"),
            ("MINIBASE_WECHAT__SECRET", "12345"),
            ("MINIBASE_AUTH__DEV_LOGIN", "true"),
            ("MINIBASE_LIMITS__RATE_PER_IP", "5"),
            ("MINIBASE_SERVER__DOMAINS", "a.example.com, b.example.com"),
            (
                "MINIBASE_COLLECTIONS__TODOS__READ",
                "doc._openid == auth.openid",
            ),
            ("MINIBASE_COLLECTIONS__TODOS__WRITE", "true"),
            ("MINIBASE_TLS__ACME__EMAIL", "ops@example.com"),
            ("MINIBASE_CONFIG", "ignored: not a key path"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.http_addr, "127.0.0.1:2");
    assert_eq!(c.wechat.secret.expose(), "12345");
    assert!(c.auth.dev_login);
    assert_eq!(c.limits.rate_per_ip, 5);
    assert_eq!(c.server.domains, vec!["a.example.com", "b.example.com"]);
    assert_eq!(
        c.collections["todos"].read,
        Some(RuleSource::Expr("doc._openid == auth.openid".into()))
    );
    assert_eq!(c.collections["todos"].write, Some(RuleSource::Bool(true)));
    assert_eq!(c.tls.acme.email, "ops@example.com");
}

#[test]
fn unknown_env_key_refused() {
    let e = from_toml_env("", &[("MINIBASE_SERVER__HTTP_ADR", "x")]).unwrap_err();
    assert!(e.to_string().contains("MINIBASE_SERVER__HTTP_ADR"), "{e}");
    assert_eq!(key_of(e), "server.http_adr");
    let e = from_toml_env("", &[("MINIBASE_LIMITS__RATE_PER_IP", "lots")]).unwrap_err();
    assert_eq!(key_of(e), "limits.rate_per_ip");
}

#[test]
fn dotenv_beside_config_is_read_and_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("minibase.toml"), "").unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# comment\nMINIBASE_WECHAT__APPID=wxfromdotenv\nexport MINIBASE_AUTH__SERVICE_KEY=\"0123456789abcdef0123\"\n",
    )
    .unwrap();
    let mut s = Sources::from_process(Some(dir.path().join("minibase.toml"))).unwrap();
    assert_eq!(s.env["MINIBASE_WECHAT__APPID"], "wxfromdotenv");
    s.env
        .insert("MINIBASE_WECHAT__APPID".into(), "wxfromenv".into());
    let c = load_from(s, None).unwrap();
    assert_eq!(c.wechat.appid, "wxfromenv");
    assert_eq!(c.auth.service_key.expose(), "0123456789abcdef0123");
}

#[test]
fn secrets_never_print() {
    let c = from_toml_env("", &[("MINIBASE_WECHAT__SECRET", "topsecretvalue")]).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("topsecretvalue"));
    let dumped = toml::to_string(&c).unwrap();
    assert!(!dumped.contains("topsecretvalue"));
}

#[test]
fn relative_paths_follow_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minibase.toml");
    std::fs::write(
        &path,
        "[server]\ndata_dir = \"./data\"\n[database]\nurl = \"sqlite://data/x.db\"",
    )
    .unwrap();
    let c = load_from(
        Sources {
            file: Some(path),
            env: Default::default(),
        },
        None,
    )
    .unwrap();
    assert_eq!(c.server.data_dir, dir.path().join("./data"));
    assert_eq!(
        c.database_url(),
        format!("sqlite://{}", dir.path().join("data/x.db").display())
    );
}

fn leaf_paths(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) if !prefix.ends_with("rules") || prefix.starts_with("storage") => {
            for (k, v) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(&p, v, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

fn all_model_keys() -> Vec<String> {
    let mut c = Config::default();
    c.collections.insert(
        "todos".into(),
        CollectionConfig {
            read: Some(RuleSource::Bool(true)),
            write: Some(RuleSource::Bool(true)),
            create: Some(RuleSource::Bool(true)),
            update: Some(RuleSource::Bool(true)),
            delete: Some(RuleSource::Bool(true)),
            indexes: vec![],
        },
    );
    c.functions
        .env
        .insert("todos".into(), crate::Secret::new("x"));
    c.functions.routes.insert("todos".into(), "todos".into());
    let mut o = FunctionOverrides::default();
    o.env.insert("todos".into(), crate::Secret::new("x"));
    c.functions.per_function.insert("todos".into(), o);
    let v = toml::Value::try_from(&c).unwrap();
    let mut out = Vec::new();
    leaf_paths("", &v, &mut out);
    out
}

#[test]
fn functions_env_routes_and_per_function_settings() {
    let c = from_toml_env(
        r#"
[functions]
runtime = "node"
[functions.env]
REGION = "ap-shanghai"
[functions.routes]
"/api/products" = "products"
"/register" = "register"
[functions.sendSms.env]
SMS_SIGN = "Minibase"
"#,
        &[
            ("MINIBASE_FUNCTIONS__ENV__SMS_SECRET", "s3cret"),
            ("MINIBASE_FUNCTIONS__sendSms__ENV__SMS_KEY", "k3y"),
        ],
    )
    .unwrap();
    let f = &c.functions;
    assert_eq!(f.runtime, "node");
    assert_eq!(f.env["REGION"].expose(), "ap-shanghai");
    assert_eq!(f.env["SMS_SECRET"].expose(), "s3cret");
    assert_eq!(f.routes["/api/products"], "products");
    let sms = &f.per_function["sendSms"].env;
    assert_eq!(sms["SMS_SIGN"].expose(), "Minibase");
    assert_eq!(sms["SMS_KEY"].expose(), "k3y");
    // Values never print.
    assert!(!format!("{c:?}").contains("s3cret"));
    for (text, key) in [
        ("[functions]\nruntime = \"deno\"", "functions.runtime"),
        ("[functions]\ntimout = \"5s\"", "functions"),
        (
            "[functions.routes]\n\"/api/db\" = \"x\"",
            "functions.routes",
        ),
        (
            "[functions.routes]\n\"/a/../b\" = \"x\"",
            "functions.routes",
        ),
        ("[functions.routes]\n\"/ok\" = \"../x\"", "functions.routes"),
        ("[functions.env]\n\"A-B\" = \"x\"", "functions.env.A-B"),
        ("[functions.\"a.b\".env]\nX = \"1\"", "functions.a.b"),
        ("[functions.f]\nenvv = {}", "functions"),
    ] {
        let err = from_toml(text).expect_err(text);
        assert!(key_of(err).starts_with(key), "{text}");
    }
}

#[test]
fn every_model_field_is_in_the_key_table() {
    for path in all_model_keys() {
        assert!(
            keys::find(&path).is_some(),
            "{path} is missing from keys::KEYS"
        );
    }
    for spec in keys::KEYS {
        let concrete = spec.path.replace('*', "todos");
        assert!(
            all_model_keys().contains(&concrete),
            "keys::KEYS lists {} which the model lacks",
            spec.path
        );
    }
}

#[test]
fn every_key_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/configuration.md"
    ))
    .expect("docs/configuration.md exists");
    for spec in keys::KEYS {
        let needle = format!("`{}`", spec.path.replace('*', "NAME"));
        assert!(
            doc.contains(&needle),
            "docs/configuration.md does not document {needle}"
        );
    }
}

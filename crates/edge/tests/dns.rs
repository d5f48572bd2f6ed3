//! The DNS-01 providers against fake provider servers that verify signatures the way the
//! real APIs do: records created in the right zone with the right name and value, deleted
//! afterwards, bad credentials refused with the provider's error, outages retried.

#![allow(clippy::unwrap_used)]

use minibase_edge::dns::{DnsError, DnsProvider, from_config};
use testkit::fake_dns::{FakeAlidns, FakeCloudflare, FakeDnspod};

fn acme(provider: &str, base: &str, id: &str, secret: &str) -> config::AcmeConfig {
    config::AcmeConfig {
        dns_provider: provider.into(),
        dns_api_base: base.into(),
        dns_key_id: id.into(),
        dns_key_secret: config::Secret::new(secret),
        ..Default::default()
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

async fn roundtrip(p: &dyn DnsProvider) -> minibase_edge::dns::TxtRecord {
    let rec = p
        .create_txt("_acme-challenge.api.example.com", "v4lu3-ABC_def")
        .await
        .unwrap();
    assert_eq!(rec.fqdn, "_acme-challenge.api.example.com");
    rec
}

#[tokio::test]
async fn dnspod_creates_and_deletes_txt_records_with_tc3_signatures() {
    let fake = FakeDnspod::start(
        "AKIDtest0000",
        "secretkey0000",
        &["example.com", "other.org"],
        None,
    )
    .await;
    let p = from_config(
        &acme("dnspod", &fake.url(), "AKIDtest0000", "secretkey0000"),
        &no_env,
    )
    .unwrap();
    let rec = roundtrip(p.as_ref()).await;
    let log = fake.log();
    assert_eq!(log.created.len(), 1);
    assert_eq!(log.created[0].zone, "example.com");
    assert_eq!(log.created[0].fqdn, "_acme-challenge.api.example.com");
    assert_eq!(log.created[0].value, "v4lu3-ABC_def");
    assert_eq!(log.auth_failures, 0);
    p.delete_txt(&rec).await.unwrap();
    assert!(fake.log().records.is_empty());

    let bad = from_config(
        &acme("dnspod", &fake.url(), "AKIDtest0000", "wrong"),
        &no_env,
    )
    .unwrap();
    match bad.create_txt("_acme-challenge.api.example.com", "x").await {
        Err(DnsError::Api { code, .. }) => assert_eq!(code, "AuthFailure.SignatureFailure"),
        other => panic!("{other:?}"),
    }
    let unknown = from_config(
        &acme("dnspod", &fake.url(), "AKIDother", "secretkey0000"),
        &no_env,
    )
    .unwrap();
    match unknown
        .create_txt("_acme-challenge.api.example.com", "x")
        .await
    {
        Err(DnsError::Api { code, .. }) => assert_eq!(code, "AuthFailure.SecretIdNotFound"),
        other => panic!("{other:?}"),
    }
    match p.create_txt("_acme-challenge.api.nowhere.net", "x").await {
        Err(DnsError::NoZone { .. }) => {}
        other => panic!("{other:?}"),
    }
    // a 500 from the API is retried once
    fake.fail_next(1);
    let rec = p
        .create_txt("_acme-challenge.www.other.org", "y")
        .await
        .unwrap();
    assert_eq!(rec.zone, "other.org");
}

#[tokio::test]
async fn alidns_creates_and_deletes_txt_records_with_rpc_signatures() {
    let fake = FakeAlidns::start("LTAItest", "alisecret", &["example.com"], None).await;
    let p = from_config(
        &acme("alidns", &fake.url(), "LTAItest", "alisecret"),
        &no_env,
    )
    .unwrap();
    let rec = roundtrip(p.as_ref()).await;
    let log = fake.log();
    assert_eq!(log.created[0].zone, "example.com");
    assert_eq!(log.created[0].value, "v4lu3-ABC_def");
    assert_eq!(log.auth_failures, 0);
    p.delete_txt(&rec).await.unwrap();
    assert!(fake.log().records.is_empty());
    let bad = from_config(&acme("alidns", &fake.url(), "LTAItest", "nope"), &no_env).unwrap();
    match bad.create_txt("_acme-challenge.api.example.com", "x").await {
        Err(DnsError::Api { code, .. }) => assert_eq!(code, "SignatureDoesNotMatch"),
        other => panic!("{other:?}"),
    }
    fake.fail_next(1);
    p.create_txt("_acme-challenge.example.com", "z")
        .await
        .unwrap();
}

#[tokio::test]
async fn cloudflare_creates_and_deletes_txt_records_with_an_api_token() {
    let fake = FakeCloudflare::start("cf-token-123", &["example.com"], None).await;
    let p = from_config(
        &acme("cloudflare", &fake.url(), "", "cf-token-123"),
        &no_env,
    )
    .unwrap();
    let rec = roundtrip(p.as_ref()).await;
    assert_eq!(fake.log().created[0].zone, "example.com");
    p.delete_txt(&rec).await.unwrap();
    assert!(fake.log().records.is_empty());
    let bad = from_config(&acme("cloudflare", &fake.url(), "", "wrong"), &no_env).unwrap();
    match bad.create_txt("_acme-challenge.api.example.com", "x").await {
        Err(DnsError::Api { code, message, .. }) => assert!(
            code == "10000" && message.contains("Authentication"),
            "{code} {message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn credentials_come_from_config_or_the_providers_usual_variables() {
    let env = |k: &str| match k {
        "TENCENTCLOUD_SECRET_ID" => Some("AKIDenv".to_string()),
        "TENCENTCLOUD_SECRET_KEY" => Some("envsecret".to_string()),
        _ => None,
    };
    assert!(from_config(&acme("dnspod", "", "", ""), &env).is_ok());
    let err = from_config(&acme("alidns", "", "", ""), &env)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{err}");
    let err = from_config(&acme("cloudflare", "", "", ""), &env)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("CLOUDFLARE_API_TOKEN") && err.contains("MINIBASE_TLS__ACME__DNS_KEY_SECRET"),
        "{err}"
    );
    let err = from_config(&acme("route53", "", "", ""), &env)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tls.acme.dns_provider"), "{err}");
}

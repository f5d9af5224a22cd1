//! Configuration validation: a table of broken configurations, each with its exact errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;

use liveramp_connector::{Config, Destination};

const VALID: &str = r#"
configuration_name = "LiveRamp production"
org_id = "3242"
state_dir = "state"

[sftp]
url = "files.liveramp.com"
port = "22"
username = "acme"
password_env = "LIVERAMP_SFTP_PASSWORD"
host_key_fingerprint = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
remote_dir = "uploads"

[file]
encrypt = true
public_key_path = "key.asc"
compression = "none"

[data]
send_device_ids = true
send_pii = true

[pii]
hash_emails_and_phones = true
columns = ["FIRSTNAME", "LASTNAME", "CITY", "STATE", "ZIP", "COUNTRY", "EMAIL", "PHONE"]

[schedule]
time = "00:00"
timezone = "America/New_York"

[[audiences]]
id = "17095"
external_name = "High-value customers"
members = "members/high-value.ndjson"
"#;

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("key.asc"),
        fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/demo/demo-public-key.asc"
        ))
        .unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn the_issue_example_is_valid_and_paths_are_relative_to_the_config_folder() {
    let dir = folder();
    let config = Config::from_toml_str(VALID, dir.path()).unwrap();
    assert_eq!(config.configuration_name, "LiveRamp production");
    assert_eq!(config.org_id, "3242");
    assert_eq!(config.state_dir, dir.path().join("state"));
    assert_eq!(
        config.file.public_key_path,
        Some(dir.path().join("key.asc"))
    );
    assert_eq!(
        config.audiences[0].members,
        Some(dir.path().join("members/high-value.ndjson"))
    );
    assert_eq!(
        config.mapping.send_pii,
        [
            "FIRSTNAME",
            "LASTNAME",
            "CITY",
            "STATE",
            "ZIP",
            "COUNTRY",
            "EMAIL",
            "PHONE"
        ]
    );
    assert!(config.mapping.hash_emails_and_phones);
    match &config.destination {
        Destination::Sftp {
            settings,
            password_env,
            ..
        } => {
            assert_eq!(settings.port, 22);
            assert_eq!(settings.remote_dir, "uploads");
            assert_eq!(password_env.as_deref(), Some("LIVERAMP_SFTP_PASSWORD"));
        }
        other => panic!("{other:?}"),
    }
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn directory_is_the_default_destination() {
    let dir = folder();
    let config = Config::from_toml_str(
        "configuration_name = \"x\"\norg_id = \"1\"\n[data]\nsend_pii = true\n",
        dir.path(),
    )
    .unwrap();
    match &config.destination {
        Destination::Directory { path } => assert_eq!(path, &dir.path().join("out")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn broken_configurations_each_with_their_exact_errors() {
    let dir = folder();
    let missing_key = dir.path().join("missing.asc");
    let table: Vec<(String, Vec<String>)> = vec![
        (
            VALID.replace("port = \"22\"", "port = \"22x\""),
            vec!["sftp.port: \"22x\" is not a port number".into()],
        ),
        (
            VALID.replace("port = \"22\"", "port = 70000"),
            vec!["sftp.port: 70000 is not a port number".into()],
        ),
        (
            VALID
                .replace("send_device_ids = true", "send_device_ids = false")
                .replace("send_pii = true", "send_pii = false"),
            vec!["data: no data type selected; set send_device_ids = true, send_pii = true, or both".into()],
        ),
        (
            VALID.replace("public_key_path = \"key.asc\"", "public_key_path = \"missing.asc\""),
            vec![format!(
                "file.public_key_path: cannot read {}: no such file; encryption is on, so the key must be readable",
                missing_key.display()
            )],
        ),
        (
            VALID.replace("public_key_path = \"key.asc\"\n", ""),
            vec!["file.public_key_path: missing; encryption is on (file.encrypt = true), so give the path of LiveRamp's public key".into()],
        ),
        (
            VALID.replace("username = \"acme\"", "usernme = \"acme\""),
            vec![
                "sftp.usernme: unknown key (did you mean \"username\"?)".into(),
                "sftp.username: missing; give the SFTP login name LiveRamp gave you".into(),
            ],
        ),
        (
            VALID.replace("members = \"members/high-value.ndjson\"", "members = \"members/high-value.ndjson\"\nfavourite_colour = \"blue\""),
            vec!["audiences[0].favourite_colour: unknown key; the keys here are id, external_name, members".into()],
        ),
        (
            VALID.replace("timezone = \"America/New_York\"", "timezone = \"America/NewYork\""),
            vec!["schedule.timezone: unknown timezone \"America/NewYork\": use an IANA zone name such as \"America/New_York\" (US Eastern, EST/EDT) or \"EST\" (UTC-5 all year)".into()],
        ),
        (
            VALID.replace("timezone = \"America/New_York\"", "timezone = \"america/new_york\""),
            vec!["schedule.timezone: unknown timezone \"america/new_york\": use an IANA zone name such as \"America/New_York\" (US Eastern, EST/EDT) or \"EST\" (UTC-5 all year); did you mean \"America/New_York\"?".into()],
        ),
        (
            VALID.replace("encrypt = true", "encrypt = \"yes\""),
            vec!["file.encrypt: expected a boolean (true or false), found a string".into()],
        ),
        (
            VALID.replace("compression = \"none\"", "compression = \"zip\""),
            vec!["file.compression: \"zip\" is not a compression; use \"none\" or \"gzip\"".into()],
        ),
        (
            VALID.replace("time = \"00:00\"", "time = \"midnight\""),
            vec!["schedule.time: invalid schedule time \"midnight\": write it as \"HH:MM\" on a 24-hour clock, e.g. \"00:00\"".into()],
        ),
        (
            VALID.replace("host_key_fingerprint = \"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\"\n", ""),
            vec!["sftp: no host-key check; set known_hosts_path (an OpenSSH known_hosts file) or host_key_fingerprint = \"SHA256:...\" (as ssh-keygen -lf prints it)".into()],
        ),
        (
            VALID.replace("password_env = \"LIVERAMP_SFTP_PASSWORD\"\n", ""),
            vec!["sftp: no credentials; set password_env (the environment variable holding the password), password, or private_key_path".into()],
        ),
        (
            VALID.replace("org_id = \"3242\"", "org_id = \"32 42\""),
            vec!["org_id: the org ID \"32 42\" contains ' ' (U+0020), which breaks LiveRamp's file-name rule: file names must not contain spaces; use an ID without it".into()],
        ),
        (
            VALID.replace("\"ZIP\", \"COUNTRY\"", "\"ZIPCODE\", \"COUNTRY\""),
            vec!["pii.columns: unknown PII column \"ZIPCODE\": use FIRSTNAME, LASTNAME, ADDRESS1, CITY, STATE, ZIP, COUNTRY, EMAIL, EMAIL_MD5, EMAIL_SHA1, EMAIL_SHA256, PHONE, PHONE_MD5, PHONE_SHA1, PHONE_SHA256 or the header of a custom column".into()],
        ),
        (
            VALID.replace("[directory]", "").replace("[data]", "[directory]\npath = \"out\"\n[data]"),
            vec!["sftp: both [sftp] and [directory] are given; keep the one files should go to".into()],
        ),
        (
            "org_id = \"3242\"\n[data]\nsend_pii = true\n".into(),
            vec!["configuration_name: missing; name this configuration, e.g. configuration_name = \"LiveRamp production\"".into()],
        ),
        (
            "configuration_name = \"x\"\norg_id = \"3242\"\n[data]\nsend_pii = true\n[[audiences]]\nid = \"1\"\nexternal_name = \"a\"\n[[audiences]]\nid = \"1\"\nexternal_name = \"b\"\n".into(),
            vec!["audiences[1].id: \"1\" appears twice; each audience is listed once".into()],
        ),
        (
            "configuration_name = \"x\"\norg_id = \"3242\"\n[data\nsend_pii = true\n".into(),
            vec!["line 3: not valid TOML: unclosed table, expected `]`".into()],
        ),
    ];
    for (text, expected) in table {
        let found = match Config::from_toml_str(&text, dir.path()) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems,
        };
        assert_eq!(found, expected, "config:\n{text}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = VALID
        .replace("port = \"22\"", "port = \"22x\"")
        .replace(
            "timezone = \"America/New_York\"",
            "timezone = \"Mars/Base\"",
        )
        .replace("send_device_ids = true", "send_device_ids = false")
        .replace("send_pii = true", "send_pii = false")
        .replace("[pii]", "[pii]\nhash_email = true");
    let dir = folder();
    let err = Config::from_toml_str(&text, dir.path()).unwrap_err();
    assert_eq!(
        err.problems,
        [
            "sftp.port: \"22x\" is not a port number",
            "data: no data type selected; set send_device_ids = true, send_pii = true, or both",
            "pii.hash_email: unknown key (did you mean \"hash_emails_and_phones\"?)",
            "schedule.timezone: unknown timezone \"Mars/Base\": use an IANA zone name such as \"America/New_York\" (US Eastern, EST/EDT) or \"EST\" (UTC-5 all year)",
        ]
    );
    assert_eq!(
        err.to_string().lines().next().unwrap(),
        "the configuration is invalid (4 problems; fix them and run again):"
    );
}

#[test]
fn an_inline_password_in_a_file_others_can_read_is_a_warning() {
    let dir = folder();
    let path = dir.path().join("connector.toml");
    fs::write(
        &path,
        VALID.replace(
            "password_env = \"LIVERAMP_SFTP_PASSWORD\"",
            "password = \"hunter2\"",
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(
        config.warnings,
        [format!(
            "sftp.password: the password is written in {0}, which other users can read (mode 644); use password_env, or run chmod 600 {0}",
            path.display()
        )]
    );
    assert!(!format!("{config:?}").contains("hunter2"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Config::load(&path).unwrap().warnings.is_empty());
}

#[test]
fn store_and_server_sections_with_their_defaults() {
    let dir = folder();
    let config = Config::from_toml_str(VALID, dir.path()).unwrap();
    assert!(config.store.is_none());
    let config = Config::from_toml_str(&format!("{VALID}\n[store]\n"), dir.path()).unwrap();
    let store = config.store.unwrap();
    assert_eq!((store.retention_days, store.dsr_retention_days), (30, 365));
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.admin_listen.to_string(), "127.0.0.1:8081");
    assert_eq!(config.server.api_key_env, "LIVERAMP_FIREHOSE_API_KEY");
    assert_eq!(config.server.max_body_bytes, 16 << 20);
    assert_eq!(config.server.request_timeout.as_secs(), 30);

    let text = format!(
        "{VALID}\n[store]\nretention_days = 45\ndsr_retention_days = 730\n[server]\nlisten = \"0.0.0.0:9000\"\n\
         api_key_env = \"KEY\"\nrequest_timeout = \"10s\"\nmax_body_bytes = 1048576\n"
    );
    let config = Config::from_toml_str(&text, dir.path()).unwrap();
    let store = config.store.unwrap();
    assert_eq!(store.path, dir.path().join("state/audiences.sqlite"));
    assert_eq!(store.retention_days, 45);
    assert_eq!(store.dsr_retention_days, 730);
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(config.server.api_key_env, "KEY");
    assert_eq!(config.server.request_timeout.as_secs(), 10);
    assert_eq!(config.server.max_body_bytes, 1 << 20);

    let text = format!(
        "{VALID}\n[store]\nretention_days = 0\ndsr_retention_days = 0\npaht = \"x\"\n[server]\nlisten = \"localhost\"\n\
         admin_listen = \"127.0.0.1:8080\"\ntls_cert_path = \"cert.pem\"\nmax_body_bytes = 0\n"
    );
    let error = Config::from_toml_str(&text, dir.path()).unwrap_err();
    assert_eq!(
        error.problems,
        [
            "store.paht: unknown key (did you mean \"path\"?)".to_owned(),
            "store.retention_days: 0 is out of range; keep ids and tombstones at least 1 day, and \
             longer than mParticle may retry a message (the default is 30)"
                .to_owned(),
            "store.dsr_retention_days: 0 is out of range; keep the record of a data subject \
             request 1 to 36500 days (the default is 365)"
                .to_owned(),
            "server.listen: \"localhost\" is not an address and port; use e.g. \"127.0.0.1:8080\" \
             or \"0.0.0.0:8080\" (all interfaces)"
                .to_owned(),
            "server.admin_listen: is the Firehose address; the status page needs its own port \
             (default 127.0.0.1:8081)"
                .to_owned(),
            "server.max_body_bytes: 0 is out of range; use 1 to 1073741824 (default 16777216)"
                .to_owned(),
            "server.tls_key_path: missing; TLS needs both tls_cert_path and tls_key_path"
                .to_owned(),
            format!(
                "server.tls_cert_path: cannot read {}: no such file",
                dir.path().join("cert.pem").display()
            ),
        ]
    );
}

//! A throw-away PostgreSQL cluster: Debian's `initdb` into a temporary folder and `pg_ctl` on a
//! free port of 127.0.0.1, run as the `postgres` system user (PostgreSQL refuses root), with
//! password (SCRAM) logins over TCP so that the tests see a real password in the URL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The password of the cluster's superuser `postgres` over TCP.
pub const PASSWORD: &str = "pg-fixture-s3cret";

/// A PostgreSQL cluster running until dropped.
#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
    durable: bool,
}

/// The newest `/usr/lib/postgresql/*/bin` holding `initdb`.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    let Some((_, bin)) = found.pop() else {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run \
             `apt-get install postgresql` (.ci/run does)"
        )
    };
    bin
}

fn id(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the `postgres` system user is missing: install Debian's postgresql package (it \
         creates it)"
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn as_postgres(program: &Path) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).arg(program);
    c
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgCluster {
    /// Creates and starts a cluster (needs root, to run it as `postgres`).
    pub fn start() -> PgCluster {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("pgcluster-")
            .tempdir()
            .unwrap();
        let (uid, gid) = (id("-u"), id("-g"));
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap_or_else(|e| {
            panic!(
                "cannot hand the cluster's folder to the postgres user ({e}): run the tests as root"
            )
        });
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        let out = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        check("initdb", &out);
        let mut cluster = PgCluster {
            bin,
            dir,
            port: crate::net::free_port(),
            running: false,
            durable: false,
        };
        cluster.start_again();
        cluster
    }

    /// A cluster that takes connections over TCP only with TLS (`hostssl`; plain TCP is
    /// rejected), its certificate issued by a throw-away authority ([`ca_pem`](Self::ca_pem))
    /// for `localhost` and `127.0.0.1`.
    pub fn start_tls() -> PgCluster {
        let mut cluster = PgCluster::start();
        cluster.stop();
        let data = cluster.dir.path().join("data");
        let dir = cluster.dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl is needed for the TLS cluster (apt-get install openssl)");
            check(&format!("openssl {args:?}"), &out);
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=liveramp test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ]);
        let (uid, gid) = (id("-u"), id("-g"));
        for name in ["server.pem", "server.key"] {
            let to = data.join(name);
            std::fs::copy(dir.join(name), &to).unwrap();
            std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
        }
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str("\nssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n");
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        cluster.start_again();
        cluster
    }

    /// The certificate authority of a [`start_tls`](Self::start_tls) cluster (PEM).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A cluster for measurements: `fsync` on (every commit durable, as in production), 256 MB
    /// of shared buffers.
    pub fn start_durable() -> PgCluster {
        let mut cluster = PgCluster::start();
        cluster.stop();
        cluster.durable = true;
        cluster.start_again();
        cluster
    }

    /// Starts the stopped cluster again, on the same port.
    pub fn start_again(&mut self) {
        let settings = if self.durable {
            "-c shared_buffers=256MB -c max_wal_size=4GB"
        } else {
            // Tests: nothing needs to survive the machine.
            "-c fsync=off -c shared_buffers=32MB"
        };
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 {settings}",
            self.port,
            self.dir.path().display()
        );
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .output()
            .unwrap();
        check("pg_ctl start", &out);
        self.running = true;
    }

    /// Stops the cluster now (`immediate`: like a crash of the server; committed data survives).
    pub fn stop(&mut self) {
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .unwrap();
        check("pg_ctl stop", &out);
        self.running = false;
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (with the superuser's password in it).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Runs SQL with `psql` on database `db` and returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-d", db, "-c", sql])
                .env("PGPASSWORD", PASSWORD)
                .output()
                .unwrap();
            // Right after a start the server may still refuse connections for a moment.
            let starting = String::from_utf8_lossy(&out.stderr).contains("starting up");
            if out.status.success() || !starting || Instant::now() > deadline {
                check(&format!("psql {sql:?}"), &out);
                return String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `pg_dump` of database `db` (plain SQL, data included).
    pub fn dump(&self, db: &str) -> String {
        let out = Command::new(self.bin.join("pg_dump"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", db])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        check(&format!("pg_dump {db}"), &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates an empty database and returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = as_postgres(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

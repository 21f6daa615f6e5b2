//! What gets installed, checked with the tools that will read it: the unit
//! with `systemd-analyze verify`, the udev rule with `udevadm test`, and the
//! Debian package built by `cargo deb` from the binary under test, listed
//! with `dpkg-deb` and unpacked to check that its parts fit together.
//!
//! These need systemd-analyze, udevadm, unshare (root), cargo-deb and
//! dpkg-deb; `.ci/run` installs what is missing. A missing tool fails the
//! test with the command that installs it, rather than skipping it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use crate::common::{binary, tool};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipped(name: &str) -> PathBuf {
    workspace().join("systemd").join(name)
}

/// Runs `command`, whose program has been found with [`tool`].
fn run(command: &mut Command) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `systemd-analyze verify` on `unit`: its complaints, or `None` when it
/// has none. It reports unknown keys and bad values on stderr but still
/// exits 0, so both count.
fn verify_unit(unit: &Path) -> Option<String> {
    let output = run(
        Command::new(tool("systemd-analyze", "apt-get install systemd"))
            .args(["verify", "--man=no"])
            .arg(unit),
    );
    let complaints = text(&output.stderr);
    (!output.status.success() || !complaints.trim().is_empty()).then_some(complaints)
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(shipped("esplora-bridge.service")).unwrap();
    let exec = "ExecStart=/usr/bin/esplora-bridge ";
    assert!(unit.contains(exec), "the unit runs the packaged binary");
    // verify checks that the binary exists; the one under test stands in.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("esplora-bridge.service");
    let unit = unit.replace(exec, &format!("ExecStart={} ", binary()));
    std::fs::write(&path, &unit).unwrap();
    if let Some(complaints) = verify_unit(&path) {
        panic!("systemd-analyze verify: {complaints}");
    }

    // The check above would notice a typo.
    std::fs::write(&path, unit.replace("ProtectHome=yes", "ProtectHome=yse")).unwrap();
    let complaints = verify_unit(&path).expect("a bad value should be reported");
    assert!(complaints.contains("yse"), "{complaints}");
}

/// Runs `udevadm test` with `rule` installed, in a private mount namespace
/// (a tmpfs over /run), so that the host's rules are untouched. Returns
/// whether udev read the rule, and the errors it reported for it.
fn udev_read(rule: &Path) -> (bool, Vec<String>) {
    let name = rule.file_name().unwrap().to_string_lossy().into_owned();
    let device = std::fs::read_dir("/sys/class/tty")
        .expect("/sys/class/tty should exist")
        .next()
        .expect("there should be a tty")
        .unwrap()
        .path();
    tool("udevadm", "apt-get install udev");
    let script = r#"mount -t tmpfs tmpfs /run && mkdir -p /run/udev/rules.d \
        && cp "$1" /run/udev/rules.d/ && exec udevadm test --action=add "$2""#;
    let output = run(Command::new(tool("unshare", "apt-get install util-linux"))
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(rule)
        .arg(&device));
    let log = text(&output.stderr) + &text(&output.stdout);
    assert!(output.status.success(), "udevadm test failed: {log}");
    let installed = format!("/run/udev/rules.d/{name}");
    let read = log.contains(&format!("Reading rules file: {installed}"));
    let errors = log
        .lines()
        .filter(|line| line.starts_with(&format!("{installed}:")))
        .map(str::to_owned)
        .collect();
    (read, errors)
}

#[test]
fn the_udev_rule_parses() {
    let rule = shipped("99-esplora.rules");
    let (read, errors) = udev_read(&rule);
    assert!(read, "udev should have read the rule");
    assert!(
        errors.is_empty(),
        "udev rejects parts of the rule: {errors:?}"
    );

    // The check above would notice a typo.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("99-esplora.rules");
    let text = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(&bad, text.replace("SYMLINK+=", "SYMLNK+=")).unwrap();
    let (_, errors) = udev_read(&bad);
    assert!(
        errors.iter().any(|e| e.contains("SYMLNK")),
        "a bad key should be reported: {errors:?}"
    );
}

/// Builds the package from the binary under test, as the README says,
/// with the dev profile (the binary is already built) and fast compression.
fn build_deb(out: &Path) -> PathBuf {
    let assets = Path::new(binary()).parent().unwrap().join("assets");
    let generated = run(Command::new(binary())
        .arg("generate")
        .arg("--out")
        .arg(&assets));
    assert!(generated.status.success(), "{generated:?}");
    tool(
        "cargo-deb",
        "cargo install cargo-deb --locked --version 3.8.0",
    );
    tool("dpkg-shlibdeps", "apt-get install dpkg-dev");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let built = run(Command::new(cargo)
        .current_dir(workspace())
        .args([
            "deb",
            "-p",
            "esplora-bridge",
            "--no-build",
            "--profile",
            "dev",
        ])
        .args(["--no-dbgsym", "--fast", "--output"])
        .arg(out));
    eprintln!("cargo deb took {:?}", started.elapsed());
    assert!(
        built.status.success(),
        "cargo deb failed: {}",
        text(&built.stderr)
    );
    std::fs::read_dir(out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb should have written a .deb")
}

/// Runs dpkg-deb with `args` and gives what it printed.
fn dpkg_deb<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> String {
    let mut command = Command::new(tool("dpkg-deb", "apt-get install dpkg"));
    command.args(args);
    let output = run(&mut command);
    assert!(output.status.success(), "{command:?}: {output:?}");
    text(&output.stdout)
}

#[test]
fn the_deb_holds_everything_a_service_needs() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb(dir.path());
    eprintln!(
        "{}: {} bytes",
        deb.display(),
        std::fs::metadata(&deb).unwrap().len()
    );

    // `dpkg-deb -c` lists `mode owner size date time ./path`.
    let listing = dpkg_deb([OsStr::new("-c"), deb.as_os_str()]);
    let files: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some((*fields.first()?, fields.last()?.strip_prefix('.')?))
        })
        .collect();
    let mode_of = |path: &str| {
        files
            .iter()
            .find(|(_, p)| *p == path)
            .map(|(mode, _)| *mode)
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
    };
    assert_eq!(mode_of("/usr/bin/esplora-bridge"), "-rwxr-xr-x");
    for path in [
        "/usr/lib/systemd/system/esplora-bridge.service",
        "/usr/lib/udev/rules.d/99-esplora.rules",
        "/etc/esplora-bridge/esplora-bridge.toml",
        "/usr/share/man/man1/esplora-bridge.1.gz",
        "/usr/share/man/man1/esplora-bridge-check-config.1.gz",
        "/usr/share/man/man1/esplora-bridge-record.1.gz",
        "/usr/share/bash-completion/completions/esplora-bridge",
        "/usr/share/zsh/vendor-completions/_esplora-bridge",
        "/usr/share/fish/vendor_completions.d/esplora-bridge.fish",
    ] {
        assert_eq!(mode_of(path), "-rw-r--r--", "{path}");
    }

    // The config survives upgrades and local edits; systemd learns of the
    // unit on install and stops it on removal.
    let info = |member: &str| dpkg_deb([OsStr::new("--info"), deb.as_os_str(), OsStr::new(member)]);
    assert_eq!(
        info("conffiles").trim(),
        "/etc/esplora-bridge/esplora-bridge.toml"
    );
    let postinst = info("postinst");
    assert!(postinst.contains("daemon-reload"), "{postinst}");

    // Unpacked, the parts fit: the unit's ExecStart names the packaged
    // binary and config, and that binary accepts that config.
    let root = dir.path().join("root");
    dpkg_deb([OsStr::new("-x"), deb.as_os_str(), root.as_os_str()]);
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/esplora-bridge.service"))
        .unwrap();
    let exec_start = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart");
    let named: Vec<&str> = exec_start
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .collect();
    assert_eq!(
        named,
        [
            "/usr/bin/esplora-bridge",
            "/etc/esplora-bridge/esplora-bridge.toml"
        ]
    );
    for path in &named {
        assert!(
            root.join(&path[1..]).is_file(),
            "{path} is not in the package"
        );
    }
    let checked = Command::new(root.join("usr/bin/esplora-bridge"))
        .arg("check-config")
        .arg(root.join("etc/esplora-bridge/esplora-bridge.toml"))
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
}

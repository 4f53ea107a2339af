//! `aurora-encrypt demo --timeline FILE.svg` on real MariaDB servers, the SVG then opened by
//! headless Chromium (Debian's `chromium`): it parses as SVG, renders to a PNG of the window's
//! size, and its DOM holds the picture's structure: both lanes, the shaded fenced window, the
//! fenced steps and the gap labelled with the length the report gives. No pixels are compared.
//!
//! Skipped with a loud message when MariaDB or Chromium is missing, except under CI (`CI` set),
//! where `.ci/run` installs both and the test fails instead.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 900;
/// `aurora_local::timeline::FENCED_FILL`, as plotters writes it.
const FENCED_FILL: &str = "fill=\"#FFC878\"";

fn available(test: &str, what: &str, found: Result<(), String>) -> bool {
    match found {
        Ok(()) => true,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: {what} is required in CI: {e}")
        }
        Err(e) => {
            eprintln!("\n!!!!!!!!!! SKIPPED {test}: {what}: {e} !!!!!!!!!!\n");
            false
        }
    }
}

fn chromium() -> Result<(), String> {
    match Command::new("chromium").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        Err(e) => Err(format!(
            "chromium not found ({e}); install it with `apt-get install -y chromium`"
        )),
    }
}

/// Headless Chromium on `svg` with `args` (as root it needs `--no-sandbox`).
fn headless(profile: &Path, svg: &Path, args: &[&str]) -> Output {
    let out = Command::new("chromium")
        .args(["--headless", "--disable-gpu", "--no-sandbox"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", svg.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&png[16..20]), be(&png[20..24])))
}

#[test]
fn demo_timeline_renders_in_chromium_with_lanes_the_fenced_window_and_the_gap() {
    let test = "demo --timeline in chromium";
    let mariadb = aurora_sandbox::tools::Tools::locate()
        .map(|_| ())
        .map_err(|e| {
            format!(
                "{e} (install it with `{}`)",
                aurora_sandbox::INSTALL_COMMAND
            )
        });
    if !available(test, "MariaDB", mariadb) || !available(test, "Chromium", chromium()) {
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("aurora-timeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("out/timeline.svg");

    let run_demo = || {
        Command::new(env!("CARGO_BIN_EXE_aurora-encrypt"))
            .args(["demo", "--rows", "300", "--json", "--timeline"])
            .arg(&svg)
            .output()
            .expect("the demo runs")
    };
    let mut demo = run_demo();
    // This test is about the picture: a demo whose sandbox failed to snapshot or restore (its
    // mariadb-backup under a loaded CI machine) is run once more, and the failure is printed.
    let sandbox_failed = |out: &std::process::Output| {
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        ["SnapshotFailed", "RestoreFailed"].contains(&report["error"].as_str().unwrap_or(""))
    };
    if !demo.status.success() && sandbox_failed(&demo) {
        eprintln!(
            "the demo's sandbox failed, running it once more: {}",
            String::from_utf8_lossy(&demo.stdout)
        );
        demo = run_demo();
    }
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    assert_eq!(
        report["timelineFile"],
        svg.display().to_string(),
        "{report}"
    );
    let gap_ms = report["writeUnavailableMs"]
        .as_f64()
        .expect("the report has a gap");

    let profile = dir.join("chromium");
    let png = dir.join("timeline.png");
    headless(
        &profile,
        &svg,
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size={WIDTH},{HEIGHT}"),
        ],
    );
    let picture = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&picture), Some((WIDTH, HEIGHT)));

    let dom = String::from_utf8(headless(&profile, &svg, &["--dump-dom"]).stdout).unwrap();
    assert!(
        !dom.contains("parsererror"),
        "chromium could not parse it:\n{dom}"
    );
    assert!(dom.trim_start().starts_with("<svg"), "not an SVG document");
    let texts = aurora_local::timeline::text_labels(&dom);
    let has = |prefix: &str| texts.iter().any(|t| t.starts_with(prefix));
    for lane in ["source: ", "target: "] {
        assert!(has(lane), "no {lane:?} lane in {texts:?}");
    }
    assert!(
        texts.iter().filter(|t| *t == "fenced").count() >= 2,
        "{texts:?}"
    );
    for step in ["FenceWrites ", "Drain ", "Verify ", "SwapDns "] {
        assert!(has(step), "no {step:?} bar in {texts:?}");
    }
    let drawn: f64 = texts
        .iter()
        .find_map(|t| t.strip_prefix("gap ")?.strip_suffix(" ms")?.parse().ok())
        .unwrap_or_else(|| panic!("no gap label in {texts:?}"));
    assert!(
        (drawn - gap_ms).abs() <= 1.0,
        "the picture says gap {drawn} ms, the report {gap_ms} ms"
    );
    let shaded = dom
        .split("<rect")
        .filter(|r| r.split('>').next().is_some_and(|r| r.contains(FENCED_FILL)))
        .count();
    assert!(
        shaded >= 3,
        "the fenced window is shaded in every panel: {shaded} rects"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn png_size_reads_the_header_and_refuses_anything_else() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(1200u32.to_be_bytes());
    png.extend(900u32.to_be_bytes());
    assert_eq!(png_size(&png), Some((1200, 900)));
    assert_eq!(png_size(&png[..20]), None);
    assert_eq!(png_size(b"GIF89a................................"), None);
}

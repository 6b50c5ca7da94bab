//! The HTML run report in a real headless browser (Debian's chromium): the page loads without network, the
//! chart is drawn, and a screenshot is kept in `target/test-artifacts/`. `BLUEGREEN_TEST_CHROMIUM` names the
//! browser (`scripts/test` sets it when chromium is installed; `.ci/run` installs it).

use bluegreen_core::{DeploymentId, Plan, Strategy};
use bluegreen_testkit::{Harness, Scenario};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let browser = std::env::var("BLUEGREEN_TEST_CHROMIUM").expect("checked by the caller");
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_html_report_draws_its_chart_in_a_browser() {
    // The file itself needs no browser.
    let dir = std::env::temp_dir().join(format!("bluegreen-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".bluegreen/deployments")).unwrap();
    let h = Harness::new(Scenario::Green5xx.world(1));
    let strategy = Strategy::Gradual {
        steps: vec![10, 50, 100],
        bake: Duration::from_secs(180),
    };
    h.run(
        "html-report",
        Plan::new("poc/poc-web", strategy.compile().unwrap()),
    )
    .unwrap();
    let record = h.store.record(&DeploymentId::new("html-report").unwrap());
    let lines: Vec<String> = record
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    std::fs::write(
        dir.join(".bluegreen/deployments/html-report.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .current_dir(&dir)
        .env_clear()
        .args([
            "-e",
            "poc",
            "-a",
            "poc-web",
            "report",
            "html-report",
            "--format",
            "html",
            "--out",
            "report.html",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained: no network"
    );
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(html.contains(r#"class="rollback""#), "the rollback marker");
    assert!(
        html.contains(r#"<circle"#),
        "the failing gate verdict is marked"
    );
    // Issue 21 item 9: the reason first, a legend, a clock-time axis, the limits drawn, and runs of passing
    // polls collapsed (the old report had 170 rows of `healthy-hosts pass`).
    let outcome = html.find(r#"id="outcome""#).expect("the outcome");
    assert!(
        outcome < html.find("poc/poc-web: blue → green").unwrap(),
        "how it ended comes first"
    );
    assert!(html[outcome..].starts_with(r#"id="outcome">rolled back at step"#));
    assert_eq!(html.matches(r#"<g class="legend">"#).count(), 1 + 3 + 3);
    assert!(html.contains(">green (new)</text>") && html.contains(">blue (stable)</text>"));
    assert!(
        html.contains(r#"data-series="limit""#),
        "the limits are drawn"
    );
    let clock_ticks = html.matches(r#"class="tick clock""#).count();
    assert!(
        clock_ticks >= 3 * 3,
        "clock-time ticks on every panel: {clock_ticks}"
    );
    assert!(
        html.contains(">00:0"),
        "ticks read as clock times (the world starts at midnight)"
    );
    let polls = record
        .iter()
        .filter(|e| matches!(e.event, bluegreen_core::Event::Polled { .. }))
        .count();
    let events = html.find(r#"id="events""#).expect("the events");
    let rows = html[events..].matches("<tr").count() - 1;
    assert!(
        html.contains(" polls passed; last: ") && rows + polls / 2 < record.len(),
        "passing polls are collapsed: {rows} rows for {} entries ({polls} polls)",
        record.len()
    );
    // Issue 23: the sequential judge, minute by minute, before the events: each metric's class, effect and
    // interval, the score; green's 20 % 5xx from minute 4 is `high` and the verdict `fail`.
    let judge = html
        .find(r#"<table id="judge">"#)
        .expect("the judge's table");
    assert!(judge < events);
    let table = &html[judge..events];
    assert!(
        table.contains("<th colspan=\"3\">5xx-sequential</th>")
            && table.contains("<th colspan=\"3\">latency-sequential</th>"),
        "{table}"
    );
    assert!(
        table.contains(r#"<td class="high">high</td>"#) && table.contains("<td>fail</td>"),
        "{table}"
    );
    assert!(table.contains("×, "), "intervals are shown: {table}");

    let Ok(_) = std::env::var("BLUEGREEN_TEST_CHROMIUM") else {
        eprintln!(
            "skipped the browser part: BLUEGREEN_TEST_CHROMIUM is not set (scripts/test sets it when chromium is installed)"
        );
        return;
    };
    let url = format!("file://{}", dir.join("report.html").display());
    let dom = chromium(&["--dump-dom", &url], &dir.join("profile"));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(r#"data-series="split""#),
        "the browser parsed the chart: {}",
        &dom[..dom.len().min(500)]
    );
    assert!(dom.contains("rolled back at step"), "the outcome is shown");
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            "--window-size=1000,900",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
        &dir.join("profile"),
    );
    let png = std::fs::read(&shot).expect("a screenshot was taken");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "the page is not blank ({} bytes)",
        png.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

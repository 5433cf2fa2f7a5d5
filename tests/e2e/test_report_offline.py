"""The report of a real batch run opens with the network off: Debian's Chromium, driven by Playwright,
loads ``report.html`` from disk behind a proxy that does not exist, with every host name unresolvable and
DevTools' offline mode on. Nothing may be requested but the file itself, and every chart must be drawn
(plotly.js is in the page once; nothing comes from a CDN: no MathJax, no plotly.js, no fonts).

Without Chromium the test is skipped with the reason, except under CI=true, where it fails.
"""

import subprocess
import sys

from globaltables.batch import PROJECT_DIR

from tests.e2e.test_browser_walkthrough import CHROMIUM_FLAGS, SCREENSHOTS, chromium, free_port

# The steps whose output the report draws: the replication map (00, 02), the function's latency heatmap
# (05), the load's charts (07), and cleanup (10), so that the resources table has something to say.
STEPS = "00_setup,01_iam_kms,02_table_replicas,05_lambda,07_performance,10_cleanup"
QUICK_LOAD = ["load_duration_s=1", "load_warmup_s=0.2", "load_key_space=50", "confirm_cleanup=true"]
ALL_DRAWN = """() => {
    const charts = [...document.querySelectorAll('.plotly-graph-div')];
    return charts.length > 0 && charts.every(chart => chart.querySelector('.main-svg'));
}"""


def run_steps(embedded_aws, outputs):
    completed = subprocess.run(
        [sys.executable, "-m", "globaltables", "run", "--outputs", str(outputs), "--run-id", "offline"]
        + ["--only", STEPS, "-p", f"endpoint_url={embedded_aws.endpoint}"]
        + [arg for value in QUICK_LOAD for arg in ("-p", value)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return outputs / "offline" / "report.html"


def test_the_report_opens_offline_with_every_chart_drawn(embedded_aws, tmp_path, isolated_home):
    browser_path = chromium()
    from playwright.sync_api import sync_playwright

    report = run_steps(embedded_aws, tmp_path)
    offline = [f"--proxy-server=http://127.0.0.1:{free_port()}", "--host-resolver-rules=MAP * ~NOTFOUND"]
    requested, failed = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS + offline)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        context.on("request", lambda request: requested.append(request.url))
        context.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
        page = context.new_page()
        devtools = context.new_cdp_session(page)
        devtools.send("Network.enable")
        devtools.send(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_function(ALL_DRAWN, timeout=60_000)
        page.wait_for_load_state("networkidle")
        charts = page.locator(".plotly-graph-div")
        titles = [charts.nth(i).locator(".gtitle").first.text_content() for i in range(charts.count())]
        page.locator(".plotly-graph-div", has_text="Latency by percentile").first.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "06-report-offline-latency.png"))
        text = page.inner_text("body")
        browser.close()
    assert [url for url in requested if not url.startswith("file://")] == [], "requests left the machine"
    assert failed == []
    assert any(title.startswith("Latency by percentile") for title in titles), titles
    assert any(title.startswith("PutItem latency from the function") for title in titles), titles
    resources = text.split("Resources the run made", 1)[1].split("00_setup —", 1)[0]
    if "what became of it" in resources:  # the manifest logs cleanup's steps: each resource and its fate
        assert "02_table_replicas" in resources and "deleted (10_cleanup)" in resources, resources
    else:  # a manifest without that log says why it lists nothing
        assert "10_cleanup removed everything the manifest recorded" in resources, resources

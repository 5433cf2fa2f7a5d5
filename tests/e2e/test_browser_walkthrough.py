"""The JupyterLab walkthrough in a real browser: JupyterLab headless on loopback, Debian's Chromium
driven by Playwright. Opens 00_setup, runs it, changes the table prefix in the form (a bad value
first, whose error the form must show), runs all cells again, and checks the rendered output and the
chart. Screenshots go to outputs/browser-test/.

Without Chromium the test is skipped with the reason, except under CI=true, where it fails.
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from globaltables.batch import NOTEBOOKS_DIR, PROJECT_DIR

SCREENSHOTS = PROJECT_DIR / "outputs" / "browser-test"
# Playwright runs it headless itself; the rest keeps Chromium off this machine's closed network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "Debian's Chromium is not installed (make test installs it where it can: root with apt-get)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(f"BROWSER TEST SKIPPED: {reason}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def jupyterlab(embedded_aws, tmp_path):
    root = tmp_path / "lab"
    shutil.copytree(NOTEBOOKS_DIR, root)  # the browser saves what it opens: never the project's own files
    port, token = free_port(), secrets.token_hex(16)
    settings = tmp_path / "lab-settings"
    # Every cell rendered (no windowing, so outputs exist in the page), and no news prompt over them.
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}'
    )
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}'
    )
    env = {
        **os.environ,
        "GLOBALTABLES_ENDPOINT": embedded_aws.endpoint,
        "GLOBALTABLES_OUTPUTS": str(tmp_path / "outputs"),
        "GLOBALTABLES_HOME": str(tmp_path / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
    }
    env.pop("GLOBALTABLES_BATCH", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "jupyterlab.log", "w"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                log = (tmp_path / "jupyterlab.log").read_text()[-2000:]
                raise AssertionError(f"JupyterLab did not start: {log}") from None
            time.sleep(0.2)
    yield base, token, tmp_path
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def run_all(page):
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def test_walkthrough_of_00_setup_in_chromium(jupyterlab):
    browser_path = chromium()
    from playwright.sync_api import sync_playwright

    base, token, tmp_path = jupyterlab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{base}/lab/tree/00_setup.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
        run_all(page)
        verdict = page.locator(".jp-OutputArea-output", has_text="Run ready:")
        verdict.wait_for(timeout=120_000)
        page.locator(".widget-text", has_text="table prefix").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "01-first-run.png"), full_page=False)

        prefix = page.locator(".widget-text", has_text="table prefix").locator("input")
        prefix.fill("bad name!")
        page.get_by_role("button", name="Apply").click()
        error = page.locator(".widget-html", has_text="not applied")
        error.wait_for()
        assert "table_name_prefix" in error.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "02-form-error.png"))

        prefix.fill("walkthrough")
        page.get_by_role("button", name="Apply").click()
        page.locator(".widget-html", has_text="applied: local").wait_for()
        run_all(page)
        page.locator(".jp-OutputArea-output", has_text="using the choices applied in the form").wait_for(
            timeout=120_000
        )
        verdict.wait_for(timeout=120_000)
        page.locator(".jp-OutputArea-output", has_text="walkthrough-").first.wait_for()
        chart = page.locator(".js-plotly-plot").first
        chart.wait_for()
        chart.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "03-second-run-with-chart.png"))
        page.locator(".jp-OutputArea-output", has_text="Run ready:").last.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "04-check.png"))
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert not any("Error" in text for text in errors.all_inner_texts()), errors.all_inner_texts()
        browser.close()
    latest = (tmp_path / "outputs" / "LATEST").read_text().strip()
    manifest = (tmp_path / "outputs" / latest / "state.json").read_text()
    assert '"table_name_prefix": "walkthrough"' in manifest and '"table_name": "walkthrough-' in manifest
    assert all(
        (SCREENSHOTS / name).stat().st_size > 10_000
        for name in ["01-first-run.png", "02-form-error.png", "03-second-run-with-chart.png", "04-check.png"]
    )

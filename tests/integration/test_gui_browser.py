"""The live GUI in a real browser (Debian's headless Chromium driven by Selenium), on a running
pipeline: scores arrive in the table, the counters rise while events flow, and a screenshot is
saved.

Selenium is given Debian's chromium and chromedriver and runs offline (``SE_OFFLINE``): nothing
is downloaded. A machine without them fails the test with the fix (``make tools``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.pipeline import Deployment, stop
from tests.integration.test_metrics import free_port, wait_for_web
from tests.support.cli import REPO
from tests.support.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TOKEN = "gui-test-token"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(monkeypatch):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(
            f"the GUI browser test needs Debian's chromium and chromium-driver ({missing} not "
            "found): run `make tools` (or `apt-get install -y chromium chromium-driver`)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,1600")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def start_gui(d: Deployment, port: int, worker_port: int) -> subprocess.Popen:
    log = open(d.state_dir.parent / "gui.log", "ab")  # noqa: SIM115 - closed by the OS
    args = ["--port", str(port), "--metrics", f"http://127.0.0.1:{worker_port}/metrics"]
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "gui", *args],
        cwd=REPO,
        env=d.env(STREAMSCORE_WEB_TOKEN=TOKEN),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until(what: str, check, timeout: float, procs=(), explain=None):
    """Poll ``check`` until truthy; on timeout fail with ``explain()`` (the logs) if given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"a process exited with {p.returncode} while waiting: {what}"
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout} s waiting until {what}\n{explain() if explain else ''}")


def test_gui_shows_live_scores_and_rising_counters(kafka_bootstrap, trained, tmp_path, browser):
    from selenium.webdriver.common.by import By

    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    worker_port, gui_port = free_port(), free_port()
    worker = d.start_worker(
        "g1", STREAMSCORE_WEB_PORT=str(worker_port), STREAMSCORE_WEB_TOKEN=TOKEN
    )
    gui = start_gui(d, gui_port, worker_port)
    try:
        wait_for_web(worker_port, worker, TOKEN)
        url = f"http://127.0.0.1:{gui_port}/"

        def gui_up() -> bool:
            try:
                with urllib.request.urlopen(url + "healthz", timeout=2):
                    return True
            except (urllib.error.URLError, ConnectionError):
                return False

        wait_until("the GUI answers", gui_up, 60, [gui])
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url, timeout=5)
        assert denied.value.code == 401

        browser.get(f"{url}?token={TOKEN}")
        d.produce(mixed_workload(1500, seed=41))

        # The page re-renders its tables every second: read them in one script call each,
        # never through element handles that the next render makes stale.
        def table(table_id: str) -> list[list[str]]:
            return browser.execute_script(
                "return [...document.querySelectorAll(arguments[0] + ' tbody tr')]"
                ".filter(r => !r.querySelector('td.empty'))"
                ".map(r => [...r.cells].map(c => c.textContent));",
                f"#{table_id}",
            )

        def logs() -> str:  # why the page shows nothing: its status line, the GUI's errors
            status = browser.find_element(By.ID, "status").text
            return f"page status: {status}\n--- gui.log\n{d.log_tail('gui')}\n--- g1.log\n" + (
                d.log_tail("g1")
            )

        rows = wait_until(
            "scores appear in the table", lambda: table("recent"), 240, [worker, gui], logs
        )
        cells = rows[0]
        assert cells[2] in ("churn", "upsell") and 0.0 <= float(cells[4]) <= 1.0, cells

        def counter(element_id: str) -> int:
            text = browser.execute_script(
                f"return document.getElementById('{element_id}').textContent"
            )
            return int(text.replace(",", "") or 0)

        first = wait_until("the score counter is positive", lambda: counter("scores-total"), 60)
        d.produce(mixed_workload(1500, seed=42))
        wait_until(
            "the score counter rises", lambda: counter("scores-total") > first, 240, (), logs
        )
        wait_until("dead letters are counted", lambda: counter("dead-total") > 0, 60)

        def latency_legend() -> str:
            script = "return document.getElementById('lat-legend').textContent"
            return browser.execute_script(script)

        legend = wait_until(
            "the latency chart shows p50 and p99",
            lambda: re.search(r"p50 [\d,.]+ ms.*p99 (> )?[\d,.]+ ms.*records", latency_legend()),
            60,
        )
        print(f"GUI latency legend: {legend.group(0)}")
        inputs = {f"{d.prefix}activity", f"{d.prefix}raw-logs"}

        def lag_rows() -> list:  # the table fills as the worker's lag of each topic comes in
            rows = table("lag")
            return rows if {row[1] for row in rows} >= inputs else []

        lag = wait_until("the lag table has both input topics", lag_rows, 60)
        assert {row[1] for row in lag} == inputs, lag
        models = {
            row[0]: row for row in wait_until("models are listed", lambda: table("models"), 30)
        }
        assert set(models) == {"churn", "upsell"} and models["churn"][1].startswith("v0001")
        # The log lines' entities are hosts: churn and upsell give them no score, and the
        # page says so per model ("not scored (kind)"); no host is in the latest scores.
        not_scored = wait_until(
            "events not scored by design are shown",
            lambda: [r for r in table("models") if r[4].endswith("(host)")],
            60,
        )
        assert all(re.fullmatch(r"[\d,]+ \(host\)", r[4]) for r in not_scored), not_scored
        assert counter("not-scored-total") > 0
        recent = table("recent")
        assert recent and all(re.fullmatch(r"u\d+", r[1]) for r in recent), recent
        assert "live" in browser.find_element(By.ID, "status").text
        time.sleep(2)  # one more push, so the charts have a few points
        shot = tmp_path / "gui.png"
        assert browser.save_screenshot(str(shot))
        print(f"GUI screenshot: {shot}")
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    finally:
        stop(gui)
        stop(worker)

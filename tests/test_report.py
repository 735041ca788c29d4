"""Figures and the Snakemake HTML report of the tiny run, rendered in headless Chromium.

The browser is driven through chromedriver's W3C WebDriver HTTP protocol with the standard
library (no Selenium): open the self-contained report, click through to Table 2, read the page
and the browser's console log, save screenshots.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from matplotlib.image import imread

from tests.conftest import run_config, run_snakemake

pytestmark = pytest.mark.e2e

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C WebDriver element reference key
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
]


def expected_figures(config: dict) -> list[str]:
    tasks = list(config["tasks"])
    names = ["figure2", "table1"]
    names += [f"{kind}_{task}" for kind in ("confusion", "f1") for task in tasks]
    return [f"results/figures/{name}.png" for name in names]


@pytest.fixture(scope="module")
def report_html(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    run_snakemake(tiny_run, "--report", str(out))
    return out


def test_figures_are_nontrivial_pngs(tiny_run: Path) -> None:
    figures = expected_figures(run_config(tiny_run))
    assert sorted(p.name for p in (tiny_run / "results/figures").iterdir()) == sorted(
        Path(f).name for f in figures
    )
    for name in figures:
        path = tiny_run / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        assert path.stat().st_size > 10_000, name
        image = imread(path)
        assert min(image.shape[:2]) >= 300, (name, image.shape)
        assert image[..., :3].std() > 0.05, f"{name} is (nearly) blank"
    assert "figures: Figure 2 of fold Ses01F" in (tiny_run / "logs/results/figures.log").read_text()


def test_report_is_self_contained(report_html: Path, tiny_run: Path) -> None:
    html = report_html.read_text(encoding="utf-8")
    assert len(html) > 500_000
    # Every figure travels inside the page; nothing is fetched from elsewhere.
    for figure in expected_figures(run_config(tiny_run)):
        assert f"data:image/png;charset=utf8;filename={Path(figure).name};base64," in html
    for table in ("table1", "table2", "table3", "table4", "significance"):
        assert f"data:text/csv;charset=utf8;filename={table}.csv;base64," in html
    for attr in ("src", "href"):
        for quote in ("'", '"'):
            assert f"{attr}={quote}http" not in html
    assert "these numbers are not IEMOCAP results" in html


# --------------------------------------------------------------------------------------------
# headless Chromium through chromedriver


class WebDriver:
    """A minimal W3C WebDriver client (JSON over HTTP to a local chromedriver)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.session = ""

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> Any:
        url = self.base + (f"/session/{self.session}" if self.session else "") + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as err:
            raise AssertionError(f"WebDriver {method} {path}: {err.read().decode()}") from None

    def find(self, xpath: str, timeout: float = 20) -> str:
        """The element id of the first match of ``xpath``, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.call("POST", "/elements", {"using": "xpath", "value": xpath})
            if found:
                return found[0][ELEMENT]
            if time.monotonic() > deadline:
                raise AssertionError(f"no element {xpath} in the page")
            time.sleep(0.2)

    def click(self, xpath: str, timeout: float = 20) -> None:
        """Click the first match of ``xpath`` once it has stopped moving.

        The report animates its sidebar's width when it opens a table, which reflows the page;
        a click aimed at an element's position mid-transition lands on something else (or is
        refused as intercepted), so the element's rectangle must be the same in two reads
        0.25 s apart, and an intercepted click is tried again until ``timeout``.
        """
        deadline = time.monotonic() + timeout
        previous = None
        while True:
            element = self.find(xpath)
            rect = self.call("GET", f"/element/{element}/rect")
            if rect == previous:
                try:
                    self.call("POST", f"/element/{element}/click", {})
                    return
                except AssertionError as err:
                    if "click intercepted" not in str(err) or time.monotonic() > deadline:
                        raise
            elif time.monotonic() > deadline:
                raise AssertionError(f"{xpath} kept moving for {timeout} s")
            previous = rect
            time.sleep(0.25)

    def script(self, source: str) -> Any:
        return self.call("POST", "/execute/sync", {"script": source, "args": []})

    def wait_for(self, source: str, timeout: float = 30) -> Any:
        """Poll a script until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while not (value := self.script(source)):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for: {source}")
            time.sleep(0.2)
        return value

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("GET", "/screenshot")))
        return path

    def console(self) -> list[dict]:
        return self.call("POST", "/se/log", {"type": "browser"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def chromium(workdir: Path) -> Iterator[WebDriver]:
    """A headless Chromium session (skips the test when Chromium is not installed)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not browser or not driver_bin:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt-get install chromium chromium-driver)"
        )
    port = _free_port()
    log = (workdir / "chromedriver.log").open("w")
    proc = subprocess.Popen(
        [driver_bin, f"--port={port}"], stdout=log, stderr=subprocess.STDOUT
    )
    driver = WebDriver(port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if driver.call("GET", "/status", timeout=2)["ready"]:
                    break
            except (OSError, AssertionError):
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"chromedriver did not start, see {log.name}")
            time.sleep(0.2)
        args = [*CHROMIUM_FLAGS, f"--user-data-dir={workdir / 'profile'}"]
        options = {"binary": browser, "args": args}
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        reply = driver.call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        driver.session = reply["sessionId"]
        try:
            yield driver
        finally:
            driver.call("DELETE", "")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _severe(entries: list[dict]) -> list[str]:
    return [e["message"] for e in entries if e.get("level") == "SEVERE"]


def _table2_numbers(tiny_run: Path) -> list[str]:
    """Every "mean ± std" cell of our Table 2 (what the page must show)."""
    table = pd.read_csv(tiny_run / "results/tables/table2.csv", dtype=str)
    cells = table[["ACC", "REC", "PREC", "F1"]].to_numpy().ravel().tolist()
    assert cells and all(" ± " in c for c in cells)
    return cells


def test_report_renders_in_chromium(report_html: Path, tiny_run: Path, tmp_path: Path) -> None:
    numbers = _table2_numbers(tiny_run)
    console: list[dict] = []
    with chromium(tmp_path) as browser:
        browser.call("POST", "/url", {"url": report_html.as_uri()})
        # React renders the navigation once the embedded scripts have run.
        browser.wait_for("return document.readyState === 'complete' && "
                         "document.querySelectorAll('#app a').length > 0")
        overview = browser.wait_for(
            "const d = document.querySelector('.prose'); return d && d.innerText;"
        )
        assert "not IEMOCAP results" in overview
        browser.screenshot(tmp_path / "report_overview.png")

        # Results -> Tables -> the info button of the Table 2 row: its caption shows the table.
        browser.click("//a[normalize-space(.)='Tables']")
        browser.click("(//tr[td[normalize-space(.)='Table 2']]//a)[last()]")
        text = browser.wait_for(
            "const t = document.body.innerText; return t.includes('Table 2') && "
            "t.includes(' ± ') && t;"
        )
        missing = [n for n in numbers if n not in text]
        assert not missing, f"Table 2 cells not shown in the report: {missing[:5]}"
        assert "these numbers are not IEMOCAP results" in text
        browser.screenshot(tmp_path / "report_table2.png")

        # Figures -> Figure 2 -> view: the embedded PNG is displayed.
        browser.click("//a[normalize-space(.)='Figures']")
        browser.click("//a[normalize-space(.)='Figure 2']")
        browser.click("(//tr[td[normalize-space(.)='3 clusters']]//a)[1]")
        width = browser.wait_for(
            "const i = document.querySelector(\"img[src^='data:image/png']\"); "
            "return i && i.complete && i.naturalWidth;"
        )
        assert width >= 300
        browser.screenshot(tmp_path / "report_figure2.png")
        console = browser.console()
    assert not _severe(console), f"console errors: {_severe(console)}"
    for shot in ("report_overview.png", "report_table2.png", "report_figure2.png"):
        assert (tmp_path / shot).read_bytes()[:8] == PNG_SIGNATURE


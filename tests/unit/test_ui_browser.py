"""A real browser on the batch page: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver, loads the page from the plugin's app under uvicorn (mounted at
/oracle-tasks as the API server mounts it, with Airflow's real JWT cookie auth) against a fake
batch that advances one step per poll. It sees the progress advance, sets the thread count and
sees it applied, and saves a screenshot (``$OTASK_UI_ARTIFACTS`` or the test's temp dir).

It skips, with the reason, only where no Chromium is installed; ``OTASK_REQUIRE_BROWSER=1``
(set by .ci/run, which installs Chromium) turns that skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oracle_tasks.chains.jobs import job_name_for
from tests.unit.chain_fakes import JobState
from tests.unit.ui_fakes import DAG_ID, INSTANCE_ID, chain_database
from tests.unit.ui_fixtures import Auth, Database, auth, database, mounted_app

__all__ = ["auth", "database"]  # fixtures

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PAGE = f"/oracle-tasks/dags/{DAG_ID}/instances/{INSTANCE_ID}?conn_id=oracle_default"


def _require_browser() -> None:
    if CHROMIUM and CHROMEDRIVER:
        return
    reason = "no chromium / chromedriver: apt-get install -y chromium chromium-driver (Debian's packages)"
    if os.environ.get("OTASK_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + ", and OTASK_REQUIRE_BROWSER=1 says this run must have them")
    pytest.skip(reason)


@pytest.fixture
def server(auth: Auth, database: Database) -> Iterator[str]:
    """uvicorn on a free loopback port, in this process (so the test sees the fake's calls)."""
    import uvicorn
    from fastapi.responses import RedirectResponse

    root = mounted_app(poll_seconds=1.0)

    @root.get("/test-login")
    def login(role: str, page: str = PAGE) -> RedirectResponse:
        """Test only: what Airflow's login leaves behind, an HttpOnly SameSite=Lax JWT cookie."""
        response = RedirectResponse(page if page.startswith("/oracle-tasks/") else PAGE)
        response.set_cookie("_token", auth.token(role), httponly=True, samesite="lax", path="/")
        return response

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(root, log_level="warning", lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(instance.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1320,1750",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OTASK_UI_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as error:  # the element may be re-rendered between find and read
            last = error
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def text_of(driver: Any, element_id: str) -> str:
    """The element's text; the page re-renders parts of itself every poll, so a stale find is retried."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(20):
        try:
            return str(driver.find_element(By.ID, element_id).text)
        except StaleElementReferenceException:
            time.sleep(0.05)
    raise AssertionError(f"#{element_id} kept being replaced")


def done_count(driver: Any) -> int:
    match = re.match(r"(\d+) / 60 done", text_of(driver, "progress-label"))
    assert match, text_of(driver, "progress-label")
    return int(match.group(1))


def test_editor_watches_the_batch_advance_and_changes_threads(
    server: str, browser: Any, database: Database, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(server + "/test-login?role=user")
    wait_for("the progress bar", lambda: "done" in text_of(browser, "progress-label"))
    first = done_count(browser)
    wait_for("the progress to advance", lambda: done_count(browser) > first)
    assert text_of(browser, "stat-target").startswith("4")

    field = browser.find_element(By.ID, "threads-input")
    field.clear()
    field.send_keys("8")
    polls = database.batch.ticks
    wait_for("two more polls", lambda: database.batch.ticks >= polls + 2)
    assert field.get_attribute("value") == "8", "a poll overwrote the thread count being typed"
    browser.find_element(By.ID, "threads-apply").click()
    wait_for("8 target threads on the page", lambda: text_of(browser, "stat-target").startswith("8"))
    wait_for("8 live workers on the page", lambda: text_of(browser, "stat-live").startswith("8"))
    assert ("otask.set_threads", {"p_instance_id": INSTANCE_ID, "p_threads": 8}) in database.batch.calls

    # The Gantt chart: a row per worker, bars per task, a group barrier, task 7's retry.
    wait_for("group 2 on the timeline", lambda: "group 2" in browser.find_element(By.ID, "gantt").text)
    wait_for("a retried task", lambda: browser.find_elements(By.CSS_SELECTOR, "#gantt rect.retried"))
    wait_for(
        "the failed task of group 2",
        lambda: "ORA-01476" in text_of(browser, "content") and database.batch.count("FAILED"),
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "#gantt rect.bar")) >= 40
    assert "ORA-01476" in text_of(browser, "errors-slot")

    # An opened error (message and backtrace) stays open while the page keeps updating.
    wait_for(
        "an opened error",
        lambda: browser.find_element(By.CSS_SELECTOR, ".error-item summary").click() or True,
    )
    folder = artifacts(tmp_path)
    screenshot = folder / "ui-batch.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000

    polls = database.batch.ticks
    wait_for("two more polls", lambda: database.batch.ticks >= polls + 2 or database.batch.finished)
    assert "APP.LOAD_PART" in text_of(browser, "errors-slot")

    # The instance ends: the page says so and stops asking.
    wait_for(
        "the end of the batch",
        lambda: browser.find_element(By.ID, "footer").get_attribute("data-finished") == "yes",
    )
    assert text_of(browser, "state") == "FAILED"
    reads_at_end = database.batch.ticks
    time.sleep(2.5)
    assert database.batch.ticks == reads_at_end, "the page kept polling after the instance ended"


def test_hard_stop_asks_first_and_viewer_sees_no_controls(
    server: str, browser: Any, database: Database
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(server + "/test-login?role=user")
    wait_for("the controls", lambda: browser.find_elements(By.ID, "hard-stop"))
    browser.find_element(By.ID, "hard-stop").click()
    browser.switch_to.alert.dismiss()  # "Continue?" - no
    time.sleep(0.5)
    assert not [call for call in database.batch.calls if call[0] == "otask.stop"]
    wait_for("the controls again", lambda: browser.find_elements(By.ID, "hard-stop"))
    browser.find_element(By.ID, "hard-stop").click()
    browser.switch_to.alert.accept()
    wait_for("STOPPED", lambda: text_of(browser, "state") == "STOPPED")
    assert ("otask.stop", {"p_instance_id": INSTANCE_ID, "p_mode": "HARD"}) in database.batch.calls

    browser.delete_all_cookies()
    browser.get(server + "/test-login?role=viewer")
    wait_for("the read-only note", lambda: "Read-only" in text_of(browser, "controls"))
    assert browser.find_elements(By.ID, "threads-input") == []

    # The taskspace list links to the batch page.
    browser.get(server + f"/oracle-tasks/dags/{DAG_ID}/taskspaces/ETL?conn_id=oracle_default")
    wait_for("the instance row", lambda: browser.find_elements(By.LINK_TEXT, str(INSTANCE_ID)))
    assert "STOPPED" in text_of(browser, "content")
    wait_for(
        "a click on the row", lambda: browser.find_element(By.LINK_TEXT, str(INSTANCE_ID)).click() or True
    )
    wait_for("the batch page", lambda: text_of(browser, "title").startswith(f"instance {INSTANCE_ID}"))
    assert browser.current_url.endswith(PAGE)


def test_chain_page_draws_steps_and_rules_and_highlights_the_stall(
    server: str, browser: Any, database: Database, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    job = job_name_for(DAG_ID, "manual__1", "payroll", -1, 1)
    steps = [("EXTRACT", "SUCCEEDED", 0), ("LOAD", "FAILED", 1476), ("REPORT", "NOT_STARTED", None)]
    chain_database(database.connection, job, JobState(state="CHAIN_STALLED", chain="PAYROLL", steps=steps))
    page = f"/oracle-tasks/dags/{DAG_ID}/chains/{job}?conn_id=oracle_default&run_id=manual__1&task_id=payroll"
    browser.get(server + "/test-login?role=viewer&page=" + urllib.parse.quote(page, safe=""))
    wait_for("the chain graph", lambda: browser.find_elements(By.CSS_SELECTOR, "#chain-graph g.node"))
    assert text_of(browser, "state") == "STALLED"
    assert "STALLED" in text_of(browser, "stalled")
    # The page redraws the graph every poll: read all nodes in one script call, never stale.
    nodes = browser.execute_script(
        "const out = {};"
        "for (const g of document.querySelectorAll('#chain-graph g.node'))"
        " out[g.dataset.step] = g.getAttribute('class');"
        "return out;"
    )
    assert set(nodes) == {"(start)", "EXTRACT", "LOAD", "REPORT", "(end)"}
    assert "state-failed" in nodes["LOAD"]
    assert "stalled" in nodes["REPORT"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chain-graph path.edge")) == 6
    assert "ORA-01476" in text_of(browser, "chain-graph")
    assert browser.save_screenshot(str(artifacts(tmp_path) / "ui-chain.png"))

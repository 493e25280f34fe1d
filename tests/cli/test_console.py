"""`sagestack console` as a person uses it: a real process, a real browser, a click on "approve".

The console runs against the CLI tests' localcloud with a model package group of this module's
own (so no approval here reaches the stack's deploying function), shows the report's sections
live, and approves a package from the page; the approval is then read back through the API.
What it refuses (another Host, a POST without the page's token) is checked over plain HTTP.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from browser import screenshot, severe_console_messages
from cli_support import SAGESTACK, Names, Stack, add_package, upload_models
from selenium.webdriver.common.by import By
from support import LocalCloud, wait_until


@pytest.fixture(scope="module")
def console(localcloud: LocalCloud, stack: Stack) -> Iterator[dict[str, Any]]:
    names = Names()
    upload_models(localcloud, names.bucket)
    localcloud.client("sagemaker").create_model_package_group(ModelPackageGroupName=names.group)
    package = add_package(localcloud, names.group, names.bucket)
    proc = subprocess.Popen([*SAGESTACK, *stack.options, "--model-package-group", names.group, "console"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "250"})
    try:
        assert proc.stdout is not None
        said, found = "", None
        while found is None:  # the line that names the console's address
            line = proc.stdout.readline()
            assert line, f"the console ended before it served: {said}"
            said += line
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        yield {"url": found.group(0), "port": int(found.group(1)), "group": names.group, "package": package}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_console_shows_the_stack_and_approves_a_model_from_the_page(localcloud: LocalCloud, browser: Any,
                                                                        console: dict[str, Any]) -> None:
    browser.get(console["url"])
    assert wait_until(lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-charts") == "drawn", 30)
    assert "sagestack console: SageStack-local" in browser.find_element(By.TAG_NAME, "h1").text
    version = str(console["package"]["ModelPackageVersion"])
    button = browser.find_element(By.CSS_SELECTOR, f'button[data-version="{version}"]')
    screenshot(browser, "console")
    button.click()

    def approved() -> bool:
        described = localcloud.client("sagemaker").describe_model_package(
            ModelPackageName=console["package"]["ModelPackageArn"])
        return described["ModelApprovalStatus"] == "Approved"

    assert wait_until(approved, 15), "the click did not approve the package"
    assert wait_until(lambda: "Approved" in browser.find_element(By.ID, "versions").text, 15)
    assert not browser.find_elements(By.CSS_SELECTOR, f'button[data-version="{version}"]')  # decided: no buttons
    assert not severe_console_messages(browser)


def _status(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_console_refuses_other_hosts_other_pages_and_posts_without_its_token(console: dict[str, Any]) -> None:
    url = console["url"]
    assert _status(f"{url}versions/1/approve", "POST")[0] == 403  # no token
    assert _status(f"{url}versions/1/approve", "POST", {"X-CSRF-Token": "guess"})[0] == 403
    assert _status(url, headers={"Host": "evil.example"})[0] == 403  # DNS rebinding
    status, body = _status(url, headers={"Origin": "http://evil.example"})
    assert status == 403 and "other pages" in body
    status, body = _status(f"{url}sections/<script>")
    assert status == 404 and "<script>" not in body  # escaped, and no stack trace
    for name in ("runs", "versions", "monitors", "alarms", "alerts"):  # what each section polls
        status, body = _status(f"{url}sections/{name}")
        assert status == 200 and f'<section id="{name}">' in body, (name, body[:500])

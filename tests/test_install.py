"""A new shop installs the app as the README says, and its events reach Seg.

The README's install blocks are marked ``<!-- install: FILE, append|new file -->``
and ``<!-- install: commands -->``. This test applies them, as written, to a project
made with ``django-admin startproject shop``, with the package pip-installed from
this working tree, and runs the commands: ``check`` and ``migrate``, then a real
worker and beat. An event sent over HTTP and one sent with ``integrations.api``
must both reach the sandbox.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from integrations.dev import Sandbox

from .conftest import ROOT, WEBSITE_ID, WRITE_KEY, free_port, wait_until

BLOCK = re.compile(
    r"<!-- install: (?P<target>[^,>]+?)(?:, (?P<how>append|new file))? -->\s*\n"
    r"(?P<indent>[ ]*)```\w*\n(?P<body>.*?)\n(?P=indent)```",
    re.S,
)


CELERY_APP_FILES = ("shop/celery.py", "shop/__init__.py")


def readme_blocks() -> list[tuple[str, str | None, str]]:
    """(target, how, text) for each marked block of the README, in order."""
    text = (ROOT / "README.md").read_text()
    return [
        (m["target"].strip(), m["how"], textwrap.dedent(m["body"]) + "\n")
        for m in BLOCK.finditer(text)
    ]


def apply_block(project: Path, target: str, how: str | None, text: str) -> None:
    path = project / target
    if how == "new file":
        assert not path.exists(), f"the README creates {target}, which startproject made"
        path.write_text(text)
    else:
        assert path.exists(), f"the README appends to {target}, which startproject did not make"
        with path.open("a") as file:
            file.write("\n" + text)


def installed_package(tmp_path: Path) -> Path:
    """The package, pip-installed from this working tree into a folder of its own.

    A copy of what the wheel is built from, so the build leaves nothing in the tree;
    no dependencies (the suite's virtualenv has them) and no index.
    """
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "integrations", source / "integrations", ignore=shutil.ignore_patterns("__pycache__")
    )
    target = tmp_path / "site-packages"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--no-deps", "--no-index", "--no-build-isolation", "--target", str(target), source],
        check=True,
        timeout=300,
    )
    return target


class Processes:
    """The shop's long-running processes, each in its own session, ended with it."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[subprocess.Popen[bytes], IO[bytes], Path]] = []

    def start(self, argv: list[str], **kwargs: Any) -> None:
        log_path = self.logs / f"{len(self.running)}-{Path(argv[0]).name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        self.running.append((process, log, log_path))

    def stop(self) -> None:
        for process, log, log_path in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            log.close()
            # Shown by pytest only when the test fails.
            print(f"--- {log_path.name}\n{log_path.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.stop()


def test_the_readme_marks_each_step_of_the_install() -> None:
    targets = [(target, how) for target, how, _ in readme_blocks()]
    assert targets == [
        ("shop/settings.py", "append"),
        ("shop/urls.py", "append"),
        ("shop/celery.py", "new file"),
        ("shop/__init__.py", "append"),
        ("commands", None),
    ]


def test_a_new_shop_installed_as_the_readme_says_delivers(
    tmp_path: Path, sandbox: Sandbox, settings: Any, processes: Processes
) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "shop", str(shop)], check=True, timeout=60
    )
    site = installed_package(tmp_path)
    # The suite's broker: its throttle starts fresh for a test marked redis, as this one is.
    broker_url = settings.CELERY_BROKER_URL
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "SEG_", "CELERY_")) and name != "DATABASE_URL"
    }
    env.update(
        # `python` and `celery` are the suite's; `integrations` is only the installed copy.
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(site),
        SEG_WEBSITE_ID=WEBSITE_ID,
        SEG_WRITE_KEYS=WRITE_KEY,
        SEG_TRACKER_URL=sandbox.url,
        REDIS_URL=broker_url,
    )

    def manage(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["python", "manage.py", *args],
            cwd=shop,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    blocks = readme_blocks()
    [(_, _, commands)] = [block for block in blocks if block[0] == "commands"]
    celery_app = [block for block in blocks if block[0] in CELERY_APP_FILES]
    for target, how, text in blocks:
        if target != "commands" and target not in CELERY_APP_FILES:
            apply_block(shop, target, how, text)
    # Without the Celery app loaded, check fails instead of events waiting for good.
    without_app = manage("check", check=False)
    assert without_app.returncode != 0
    assert "integrations.E007" in without_app.stderr
    for target, how, text in celery_app:
        apply_block(shop, target, how, text)

    for line in commands.splitlines():
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        if argv[0] == "celery":  # the worker and beat run beside the web app
            processes.start(argv, cwd=shop, env=env)
        else:
            done = subprocess.run(
                argv, cwd=shop, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    port = free_port()
    processes.start(
        ["python", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=shop, env=env
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base), timeout=60)

    answer = requests.post(
        f"{base}/seg/v1/identify",
        json={
            "userId": "shop-user-1",
            "traits": {"email": "ann@shop.example"},
            "messageId": "install-http-1",
        },
        auth=(WRITE_KEY, ""),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    sent = manage(
        "shell",
        "-c",
        "import integrations; from integrations import api; print(integrations.__file__); "
        "api.track('shop-user-1', 'Order Completed', {'orderId': 'shop-order-1', 'total': 30}, "
        "context={'traits': {'email': 'ann@shop.example'}}, message_id='install-api-1')",
    )
    # The pip-installed copy answered, not the working tree.
    assert sent.stdout.strip().splitlines()[-1].startswith(str(site))

    delivered = wait_until(
        lambda: {"install-http-1", "install-api-1"} <= set(sandbox.delivered_keys()),
        timeout=90,
    )
    assert delivered
    bodies = {r.headers.get("Idempotency-Key"): r for r in sandbox.delivered()}
    assert bodies["install-api-1"].website_id == WEBSITE_ID
    assert "ann@shop.example" in str(bodies["install-api-1"].body)


def _answers(base: str) -> bool:
    try:
        requests.get(f"{base}/admin/login/", timeout=1)
    except requests.RequestException:
        return False
    return True

"""The README's install, django-oscar and demo steps, run as written, deliver to Seg.

The README marks each block a reader follows with ``<!-- SECTION: KIND -->``:
``install`` for *Installing the app in a shop*, ``oscar`` for *django-oscar*, and
``demo`` for what is typed beside the running ``scripts/run.sh``. KIND is ``run``
or ``another terminal`` (commands typed into the reader's first terminal: its
folder, variables and activated virtualenv carry from block to block), ``FILE,
append`` or ``FILE, new file`` (a file block, applied in the folder that terminal
is in), or ``terminal of its own`` (a new shell, in that folder, with none of the
first terminal's variables). The tests run those blocks as written and in order,
from a copy of this checkout, so the wheel is built from it and installed with
its dependencies into a fresh virtualenv from the package index; nothing but the
machine's own environment (``PATH`` without the suite's virtualenv, ``REDIS_URL``,
pip's settings) comes from the suite. They then check that what the section
promises arrived at the sandbox the README itself starts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from .conftest import ROOT, wait_until

pytestmark = [pytest.mark.install, pytest.mark.redis]

BLOCK = re.compile(
    r"<!-- (?P<section>install|oscar|demo): (?P<kind>[^>]+?) -->\s*\n"
    r"(?P<indent>[ ]*)```\w*\n(?P<body>.*?)\n(?P=indent)```",
    re.S,
)
# The ports the README's terminals listen on: the sandbox's and runserver's defaults.
SANDBOX = "http://127.0.0.1:8765"
SHOP = "http://127.0.0.1:8000"
# The README's own values (step 5's seg.env).
WEBSITE_ID = "abc8fb18-7559-4324-9921-a4b5015b4a1c"
# What a checkout holds that the wheel is built from.
CHECKOUT = ("pyproject.toml", "README.md", "integrations")


@dataclass(frozen=True)
class Block:
    section: str
    kind: str  # "run", "terminal of its own", or "FILE, append" / "FILE, new file"
    text: str


def readme_blocks(section: str) -> list[Block]:
    """The README's blocks marked for ``section``, in order."""
    text = (ROOT / "README.md").read_text()
    return [
        Block(m["section"], m["kind"].strip(), textwrap.dedent(m["body"]) + "\n")
        for m in BLOCK.finditer(text)
        if m["section"] == section
    ]


class Terminals:
    """The reader's terminals: the first one's state kept between blocks, the others running."""

    def __init__(self, home: Path, start: Path) -> None:
        self.home = home
        self.state = home / "first-terminal.env"
        self.cwd = start
        self.running: list[tuple[subprocess.Popen[bytes], IO[bytes], Path]] = []
        # A new terminal has the machine's environment: none of the suite's settings
        # or commands (its virtualenv is off PATH), and `python3` is the Python the
        # suite runs on, so a reader's `python3 -m venv` makes a virtualenv of it.
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("DJANGO_", "SEG_", "CELERY_"))
            and name not in ("DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
        }
        suite_bin = str(Path(sys.executable).parent)
        machine_path = [p for p in self.env.get("PATH", "").split(os.pathsep) if p != suite_bin]
        bin_dir = home / "bin"
        bin_dir.mkdir()
        python3 = bin_dir / "python3"
        python3.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        python3.chmod(0o755)
        self.env["PATH"] = os.pathsep.join([str(bin_dir), *machine_path])

    def follow(self, block: Block) -> None:
        """Do what ``block`` says, as the reader would."""
        if block.kind in ("run", "another terminal"):
            self.run(block.text)
        elif block.kind == "terminal of its own":
            self.open_terminal(block.text)
        else:
            target, _, how = block.kind.rpartition(", ")
            path = self.cwd / target
            if how == "new file":
                assert not path.exists(), f"the README creates {target}, which exists already"
                path.write_text(block.text)
            else:
                assert how == "append", block.kind
                assert path.exists(), f"the README appends to {target}, which is not there"
                with path.open("a") as file:
                    file.write("\n" + block.text)

    def run(self, text: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``text`` in the first terminal: its folder and variables before, kept after."""
        script = "\n".join(
            [
                "set -eo pipefail",
                f". {self.state}" if self.state.exists() else ":",
                f"cd {self.cwd}",
                "set -a",  # a variable the README sets is there for the next block
                text,
                "set +a",
                f"export -p > {self.state}",
                f"pwd > {self.home / 'first-terminal.cwd'}",
            ]
        )
        done = subprocess.run(
            ["bash", "-c", script],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{text}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        self.cwd = Path((self.home / "first-terminal.cwd").read_text().strip())
        return done

    def open_terminal(self, text: str) -> None:
        """``text`` in a new shell in the first terminal's folder, left running."""
        words = re.sub(r"\W+", "-", text.strip().splitlines()[-1])[:40]
        log_path = self.home / f"terminal-{len(self.running)}-{words}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            ["bash", "-c", "set -eo pipefail\n" + text],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((process, log, log_path))

    def close(self) -> None:
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
            print(f"--- {log_path.name}\n{log_path.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Terminals]:
    """A copy of the checkout, and the reader's first terminal in it."""
    for port in (8765, 8000):
        with socket.socket() as probe:
            busy = probe.connect_ex(("127.0.0.1", port)) == 0
        assert not busy, f"127.0.0.1:{port}, which the README's terminals use, is taken"
    checkout = tmp_path / "django-seg-integrations"
    checkout.mkdir()
    for name in CHECKOUT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, checkout / name)
    terminals = Terminals(tmp_path, checkout)
    yield terminals
    terminals.close()


def received() -> list[dict[str, Any]]:
    answer = requests.get(f"{SANDBOX}/_sandbox/received", timeout=5)
    answer.raise_for_status()
    return list(answer.json())


def listening(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.RequestException:
        return False
    return True


def test_the_readme_marks_each_step_of_the_install() -> None:
    kinds = [block.kind for block in readme_blocks("install")]
    assert kinds == [
        "run",
        "shop/settings.py, append",
        "shop/urls.py, append",
        "shop/celery.py, new file",
        "shop/__init__.py, append",
        "seg.env, new file",
        "run",
        *["terminal of its own"] * 4,
        "run",
    ]
    assert [block.kind for block in readme_blocks("oscar")] == [
        "run",
        "shop/settings.py, append",
        "shop/urls.py, append",
        "run",
    ]
    assert [block.kind for block in readme_blocks("demo")] == ["another terminal"] * 2


def test_a_new_shop_installed_as_the_readme_says_delivers(reader: Terminals) -> None:
    blocks = readme_blocks("install")
    for block in blocks[:6]:  # the wheel, the shop, its files and seg.env
        reader.follow(block)
    # Without seg.env, check names what is missing instead of failing on a KeyError.
    unset = subprocess.run(
        ["bash", "-c", f". {reader.state} && python manage.py check"],
        cwd=reader.cwd,
        env=reader.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unset.returncode != 0
    assert "integrations.E001" in unset.stderr and "integrations.E003" in unset.stderr
    assert "KeyError" not in unset.stderr
    installed = reader.run("python -c 'import integrations; print(integrations.__file__)'")
    assert "/.venv/" in installed.stdout and str(ROOT) not in installed.stdout

    for block in blocks[6:-1]:  # check and migrate, then the four terminals
        reader.follow(block)
    assert wait_until(lambda: listening(SANDBOX) and listening(f"{SHOP}/admin/login/"), 60)
    reader.follow(blocks[-1])  # the sandbox scripted, an order and an identify sent

    def both_delivered() -> bool:
        bodies = [json.dumps(r["body"]) for r in received() if r["status"] == 200]
        return any("ann@example.com" in b for b in bodies) and any(
            "bob@example.com" in b for b in bodies
        )

    assert wait_until(both_delivered, timeout=90), received()
    posts = received()
    assert len(posts) == 3, posts
    # The scripted 503, then the same event again, answered 200: a retry.
    first = posts[0]
    assert first["status"] == 503
    key = first["headers"]["Idempotency-Key"]
    assert [r["status"] for r in posts if r["headers"]["Idempotency-Key"] == key] == [503, 200]
    assert {r["website_id"] for r in posts} == {WEBSITE_ID}


# Oscar's catalogue, made the way the shop's staff would in the dashboard: a
# product with a price, stock and an image.
MAKE_PRODUCT = """
import io
from decimal import Decimal
from django.core.files.uploadedfile import SimpleUploadedFile
from oscar.apps.catalogue.models import Product, ProductClass, ProductImage
from oscar.apps.partner.models import Partner, StockRecord
from PIL import Image

kind = ProductClass.objects.create(name="Books")
product = Product.objects.create(product_class=kind, title="The Book", upc="9780140449136")
StockRecord.objects.create(
    product=product, partner=Partner.objects.create(name="Warehouse"), partner_sku="BOOK-1",
    price=Decimal("19.99"), price_currency="GBP", num_in_stock=10,
)
data = io.BytesIO()
Image.new("RGB", (40, 40), "red").save(data, "PNG")
ProductImage.objects.create(
    product=product, original=SimpleUploadedFile("cover.png", data.getvalue()), display_order=0
)
print(product.get_absolute_url())
"""


def test_an_oscar_shop_installed_as_the_readme_says_delivers(reader: Terminals) -> None:
    install = readme_blocks("install")
    steps_1_to_5 = install[:7]
    terminals = [block for block in install if block.kind == "terminal of its own"]
    for block in [*steps_1_to_5, *readme_blocks("oscar")]:
        reader.follow(block)
    for block in terminals:
        reader.follow(block)
    assert wait_until(lambda: listening(SANDBOX) and listening(SHOP), 60)

    url = reader.run(f". ./seg.env\npython manage.py shell -c '{MAKE_PRODUCT}'").stdout
    path = url.strip().splitlines()[-1]
    visitor = "4b2d1c8e-7a1f-4a6e-9c3b-1f0e2d3c4b5a"
    page = requests.get(
        f"{SHOP}{path}", cookies={"ajs_anonymous_id": f"%22{visitor}%22"}, timeout=30
    )
    assert page.status_code == 200, page.text[-2000:]
    assert "The Book" in page.text
    # sorl-thumbnail made the product's thumbnail, under MEDIA_ROOT's cache.
    assert "/media/cache/" in page.text
    # Held until the visitor is known; the identify at login releases it.
    identify = requests.post(
        f"{SHOP}/seg/v1/identify",
        json={"anonymousId": visitor, "userId": "u1", "traits": {"email": "ann@example.com"}},
        auth=("shop-write-key", ""),
        timeout=10,
    )
    assert identify.status_code == 200, identify.text

    def viewed() -> list[dict[str, Any]]:
        return [
            r for r in received() if r["status"] == 200 and "ProductView" in json.dumps(r["body"])
        ]

    assert wait_until(viewed, timeout=90), received()
    assert "The Book" in json.dumps(viewed()[0]["body"])


# What scripts/run.sh needs from a checkout (package.json left out: the demo's
# commands need no analytics.js, so npm installs nothing).
DEMO = (
    "manage.py",
    "gunicorn.conf.py",
    "requirements.txt",
    "segproject",
    "integrations",
    "templates",
    "static",
    "scripts",
)


def test_the_demos_commands_work_in_another_terminal_beside_it(reader: Terminals) -> None:
    """`scripts/run.sh` running; the README's `demo` blocks typed into another terminal."""
    checkout = reader.cwd
    for name in DEMO:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source,
                checkout / name,
                ignore=shutil.ignore_patterns("__pycache__"),
                dirs_exist_ok=True,
            )
        else:
            shutil.copy2(source, checkout / name)  # its time too: run.sh installs when newer
    # The suite's virtualenv has every requirement; run.sh installs none again.
    reader.env["SEG_VENV"] = sys.prefix
    # As on a machine with no Redis running: run.sh starts its own.
    reader.env.pop("REDIS_URL", None)
    reader.open_terminal("scripts/run.sh")
    assert wait_until(
        lambda: (checkout / ".run/env").exists() and listening(SANDBOX) and listening(SHOP), 120
    )
    for block in readme_blocks("demo"):
        reader.follow(block)

    def order_posts() -> list[dict[str, Any]]:
        return [r for r in received() if "demo-1" in json.dumps(r["body"])]

    # Answered 503, retried and answered 429, then delivered after Retry-After.
    assert wait_until(lambda: len(order_posts()) >= 3, 30), received()
    assert [r["status"] for r in order_posts()] == [503, 429, 200]
    assert len({r["headers"]["Idempotency-Key"] for r in order_posts()}) == 1

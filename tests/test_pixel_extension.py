"""The web pixel extension: its JS runs under Node against a fake Shopify `register` context, and its
configuration agrees with what the server accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from app.profiles.vocabulary import CUSTOM_EVENTS, STANDARD_EVENTS

EXT = Path(__file__).resolve().parent.parent / "extensions" / "attune-pixel"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_pixel_js_under_node():
    run = subprocess.run(
        [NODE, "--test", "test/pixel.test.mjs"], cwd=EXT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r"^# fail 0$", run.stdout, re.M)
    passed = int(re.search(r"^# pass (\d+)$", run.stdout, re.M).group(1))
    assert passed >= 8


def test_extension_toml_declares_a_strict_web_pixel_with_settings_and_privacy():
    conf = tomllib.loads((EXT / "shopify.extension.toml").read_text())
    assert conf["type"] == "web_pixel_extension"
    assert conf["runtime_context"] == "strict"
    assert conf["customer_privacy"]["analytics"] is True
    assert conf["customer_privacy"]["marketing"] is False
    assert conf["customer_privacy"]["sale_of_data"] in ("disabled", "enabled", "ldu")
    assert set(conf["settings"]["fields"]) == {"accountID", "shopKey", "endpoint"}
    for field in conf["settings"]["fields"].values():
        assert field["type"] == "single_line_text_field"


def test_js_subscribes_to_exactly_the_events_the_server_accepts():
    source = (EXT / "src" / "index.js").read_text()

    def js_list(name: str) -> list[str]:
        block = re.search(rf"export const {name} = \[(.*?)\];", source, re.S).group(1)
        return re.findall(r'"([^"]+)"', block)

    assert js_list("STANDARD_EVENTS") == list(STANDARD_EVENTS)
    assert js_list("CUSTOM_EVENTS") == list(CUSTOM_EVENTS)
    assert 'from "@shopify/web-pixels-extension"' in source

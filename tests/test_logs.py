"""Logs are for operators: the bot token never shows, whoever logs it."""

from __future__ import annotations

import logging
import subprocess
import sys

from tests.conftest import ROOT

TOKEN = "123456:AAH-secret_token-value"


def test_the_token_is_masked_in_http_client_lines_and_tracebacks() -> None:
    script = f"""
import logging
from immu.logs import setup_logging
setup_logging("DEBUG", ["{TOKEN}"])
logging.getLogger("httpx").warning('HTTP Request: POST https://api.telegram.org/bot%s/getMe "200 OK"', "{TOKEN}")
logging.getLogger("telegram.ext.Updater").error("Exception: bot{TOKEN} failed")
try:
    raise RuntimeError("url https://api.telegram.org/bot{TOKEN}/sendMessage")
except RuntimeError:
    logging.getLogger("bot").exception("handler failed")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert out.stderr.count("***") == 3, out.stderr
    assert TOKEN not in out.stderr and "secret_token" not in out.stderr


def test_http_client_info_lines_are_quiet() -> None:
    from immu.logs import setup_logging

    setup_logging("DEBUG", [TOKEN])
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)

"""Logs are for operators: the bot token never shows, whoever logs it."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys

from tests.support.paths import ROOT

TOKEN = "123456:AAH-secret_token-value"


def test_the_token_is_masked_in_http_client_lines_and_tracebacks() -> None:
    script = f"""
import hashlib
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


def test_a_token_is_masked_percent_encoded_and_when_not_configured() -> None:
    """A proxy's page quotes the URL with ":" as %3A; a script sets up logs without the
    token, or logs another bot's."""
    encoded = TOKEN.replace(":", "%3A")
    other = "7654321:BBx-another_bots_token-0123456789abcdef"
    script = f"""
import logging
from immu.logs import setup_logging
setup_logging("INFO", ["{TOKEN}"])
logging.getLogger("telegram").warning('Invalid JSON: "<a href=https://h/bot{encoded}/getMe>"')
logging.getLogger("bench").warning("second bot at https://h/bot{other}/getMe")
setup_logging("INFO", [])
logging.getLogger("bench").warning("token={other}")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert out.stderr.count("***") == 3, out.stderr
    for secret in (TOKEN.split(":")[1], other.split(":")[1]):
        assert secret not in out.stderr


def test_http_client_info_lines_are_quiet() -> None:
    from immu.logs import setup_logging

    setup_logging("DEBUG", [TOKEN])
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)


def test_people_never_reach_the_log_when_a_library_prints_an_update() -> None:
    """python-telegram-bot logs an update it cannot parse whole, at CRITICAL."""
    script = """
import hashlib
import logging
from immu.logs import setup_logging
setup_logging("INFO", [])
update = {"update_id": 7, "message": {"message_id": 1, "from": {"id": 424242424, "is_bot": False,
          "first_name": "Ann O'Neil", "last_name": "Kim", "username": "ann_k"},
          "chat": {"id": 424242424, "type": "private", "first_name": "Ann O'Neil"}}}
logging.getLogger("telegram.ext.Updater").critical(
    "Something went wrong processing the data received from Telegram. Received data was "
    "*not* processed! Received data: %s", update)
from bot.pseudonym import uid
print(uid(424242424))  # what the bot's own lines call Ann
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert "Received data was *not* processed" in out.stderr  # the operator still learns it
    for personal in ("Ann", "O'Neil", "Kim", "ann_k", "424242424"):
        assert personal not in out.stderr, out.stderr
    assert out.stdout.strip() in out.stderr  # the pseudonym of our own lines
    assert hashlib.sha256(b"424242424").hexdigest()[:10] not in out.stderr  # never reversible


def test_network_trouble_in_libraries_is_one_warning_line() -> None:
    script = """
import json, logging
from immu.logs import setup_logging
from telegram.error import NetworkError
setup_logging("INFO", [])
try:
    json.loads("<html>502 Bad Gateway</html>")
except ValueError:
    logging.getLogger("telegram.request._baserequest").exception(
        'Can not load invalid JSON data: "%s"', "<html>502 Bad Gateway</html>")
try:
    raise NetworkError("Bad Gateway")
except NetworkError:
    logging.getLogger("telegram.ext.Updater").exception("Exception happened while polling")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2 and all(" WARNING " in line for line in lines), out.stderr
    assert "Traceback" not in out.stderr

"""A Telegram client's side of a Mini App launch: ``initData`` signed as Telegram signs it.

Written from Telegram's description (https://core.telegram.org/bots/webapps), not with the
server's code, so that the two cannot agree by sharing a mistake: the data-check string is
the fields but ``hash``, sorted, as ``key=value`` lines; the secret key is HMAC-SHA-256 of
the bot token under the key ``WebAppData``; the hash is HMAC-SHA-256 of that string under
the secret key, in hex.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import quote, urlencode


def sign_init_data(
    token: str,
    user_id: int | None,
    first_name: str = "Ann",
    *,
    language_code: str = "en",
    start_param: str | None = None,
    auth_date: int | None = None,
    tamper: dict[str, str] | None = None,
) -> str:
    """The ``initData`` query string a Telegram client passes for this person; with no
    ``user_id``, signed data that names nobody."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
    }
    if user_id is not None:
        user = {"id": user_id, "first_name": first_name, "language_code": language_code}
        fields["user"] = json.dumps(user, separators=(",", ":"), ensure_ascii=False)
    if start_param is not None:
        fields["start_param"] = start_param
    lines = [f"{key}={fields[key]}" for key in sorted(fields)]
    secret = hmac.new(key=b"WebAppData", msg=token.encode("utf-8"), digestmod=hashlib.sha256)
    digest = hmac.new(secret.digest(), "\n".join(lines).encode("utf-8"), hashlib.sha256)
    fields["hash"] = digest.hexdigest()
    fields.update(tamper or {})  # changed after signing: a forgery
    return urlencode(fields, quote_via=quote)


def launch_fragment(init_data: str, start_param: str | None = None) -> str:
    """The URL fragment a Telegram client opens a Mini App with (its launch parameters)."""
    params = {"tgWebAppData": init_data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": "tdesktop"}
    if start_param:
        params["tgWebAppStartParam"] = start_param
    return "#" + urlencode(params, quote_via=quote)

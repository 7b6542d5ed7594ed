"""Join a Ray cluster only when it has token authentication on and we hold its token.

Anyone who can call a Ray cluster can run code on its GPU hosts and read the photos
it composes, so the bot and ``immu worker`` refuse a cluster that answers without a
token, unless the operator sets ``IMMU_RAY_ALLOW_NO_AUTH``. A missing or wrong token
is found in about a second, with one line that names the setting to fix, where
``ray.init`` alone takes ~20 s and ends in a traceback.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

NAMESPACE = "immu"
CONNECT_TIMEOUT_S = 3.0
PROBE_TIMEOUT_S = 20.0  # a Python start and one call to the cluster
PROBE_REFUSED = 3  # the probe's exit status when the cluster asks for a token
TOKEN_SETTINGS = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
ALLOW_NO_AUTH = "IMMU_RAY_ALLOW_NO_AUTH"
# exits 0 if the cluster answers, PROBE_REFUSED if it wants a (right) token
_PROBE = f"""
import sys
from ray._raylet import GcsClient
from ray.exceptions import AuthenticationError
try:
    GcsClient(address=sys.argv[1])
except AuthenticationError:
    sys.exit({PROBE_REFUSED})
"""


class RayClusterError(PipelineError):
    """The Ray cluster cannot be joined safely; the message names the setting to fix."""


def join_cluster(address: str, *, allow_no_auth: bool = False, log_to_driver: bool = True) -> str:
    """Check the cluster's authentication, then ``ray.init`` to it; returns its address."""
    import ray

    gcs = _gcs_address(address)
    check_authentication(gcs, allow_no_auth=allow_no_auth)
    ray.init(
        address=gcs,
        namespace=NAMESPACE,
        logging_level=logging.WARNING,
        log_to_driver=log_to_driver,
    )
    return gcs


def check_authentication(gcs: str, *, allow_no_auth: bool) -> None:
    """Raise ``RayClusterError`` unless the cluster wants a token and ours is the right one."""
    _check_reachable(gcs)
    problem = _token_problem(gcs)
    probes = [_probe(gcs, with_token=False)]  # both at once: a second, not two
    if not problem:
        probes.append(_probe(gcs, with_token=True))
    try:
        if _answered(probes[0], gcs):
            if not allow_no_auth:
                raise RayClusterError(
                    f"the Ray cluster at {gcs} runs without token authentication: start it "
                    f"with RAY_AUTH_MODE=token and RAY_AUTH_TOKEN set (README, More than one "
                    f"GPU), or set {ALLOW_NO_AUTH}=true to accept that"
                )
            log.warning("ray cluster without token authentication address=%s", gcs)
            return
        if problem:
            raise RayClusterError(problem)
        if not _answered(probes[1], gcs):
            raise RayClusterError(
                f"the Ray cluster at {gcs} refused RAY_AUTH_TOKEN: set it to the token the "
                f"cluster was started with"
            )
    finally:
        for probe in probes:
            if probe.poll() is None:
                probe.kill()
                probe.wait()


def _token_problem(gcs: str) -> str | None:
    """Why this process cannot present a token, or None when it has one."""
    from ray._raylet import (  # type: ignore[attr-defined]
        AuthenticationMode,
        AuthenticationTokenLoader,
        get_authentication_mode,
    )
    from ray.exceptions import AuthenticationError

    if get_authentication_mode() != AuthenticationMode.TOKEN:
        return (
            f"the Ray cluster at {gcs} wants a token: set RAY_AUTH_MODE=token and "
            f"RAY_AUTH_TOKEN to the cluster's token"
        )
    try:
        has_token = AuthenticationTokenLoader.instance().has_token()
    except AuthenticationError:  # token mode with no token raises rather than answers
        has_token = False
    if not has_token:
        return (
            f"RAY_AUTH_MODE is token but no token is set: set RAY_AUTH_TOKEN to the token "
            f"of the Ray cluster at {gcs}"
        )
    return None


def _gcs_address(address: str) -> str:
    from ray._private.services import canonicalize_bootstrap_address_or_die

    try:
        return str(canonicalize_bootstrap_address_or_die(address))
    except (ConnectionError, ValueError) as exc:
        raise RayClusterError(
            f"no Ray cluster at {address!r} ({exc}): set IMMU_RAY_ADDRESS to the head's host:port"
        ) from None


def _check_reachable(gcs: str) -> None:
    host, _, port = gcs.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RayClusterError(
            f"cannot reach the Ray cluster at {gcs} ({exc.strerror or exc}): check "
            f"IMMU_RAY_ADDRESS and that the head runs"
        ) from None


def _probe(gcs: str, *, with_token: bool) -> subprocess.Popen[bytes]:
    """Ask the cluster for its id from a process of its own (Ray fixes the authentication
    mode once per process, and its refusals print warnings we keep off the terminal)."""
    env = dict(os.environ)
    if not with_token:
        env = {k: v for k, v in env.items() if k not in TOKEN_SETTINGS}
        env["RAY_AUTH_MODE"] = "disabled"  # and so no token from ~/.ray/auth_token either
    return subprocess.Popen(
        [sys.executable, "-c", _PROBE, gcs],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _answered(probe: subprocess.Popen[bytes], gcs: str) -> bool:
    """True if the cluster answered the probe, False if it asked for a (right) token."""
    try:
        _, err = probe.communicate(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        probe.kill()
        probe.wait()
        raise RayClusterError(f"the Ray cluster at {gcs} does not answer") from None
    if probe.returncode == PROBE_REFUSED:
        return False
    if probe.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        raise RayClusterError(f"the Ray cluster at {gcs} cannot be checked: {last}")
    return True

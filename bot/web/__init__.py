"""IMMU's HTTP side: one aiohttp server (``server``) and the routes features put on it."""

from bot.web.server import WebServer
from bot.web.webhook import MAX_UPDATE_BYTES, SECRET_HEADER, webhook_handler

__all__ = ["MAX_UPDATE_BYTES", "SECRET_HEADER", "WebServer", "webhook_handler"]

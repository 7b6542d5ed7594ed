"""Telegram handlers, thin: people's (``people``) and operators' (``operators``), each
module with ``register(app, ...)``; ``context`` holds what they share."""

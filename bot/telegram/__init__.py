"""How IMMU speaks Telegram: the HTTP transport, receiving updates, sending and editing
messages, progress, keyboards, the texts and the command menus. Nothing here knows the
domain (jobs, posts, reviews); the domain modules use these."""

"""The bot's extensions, one per feature area: chat, generate, prefs, admin."""

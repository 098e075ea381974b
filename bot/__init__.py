"""The Discord adapter: a thin layer over pmg_engine (built in the bot issue)."""

"""The SQL store: models, engine, migrations, repositories."""

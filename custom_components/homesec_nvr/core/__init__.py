"""HomeSec's clip pipeline: models, interfaces and backends. Never imports Home Assistant."""

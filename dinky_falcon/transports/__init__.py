"""Built-in transports. Each module is a plugin registered through ``register_transports``;
the core never imports one by name (see plugins.DEFAULT_PLUGINS)."""

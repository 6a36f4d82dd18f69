"""Guards: API keys, Origin, rate limits, client IP and the sender/recipient policy."""

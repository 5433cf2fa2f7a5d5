"""Lambda functions that really run in the embedded AWS: a Python handler in its own process."""

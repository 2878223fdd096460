"""Chat platforms: where viewers' messages come from."""

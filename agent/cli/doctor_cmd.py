"""`airi doctor` (placeholder until written)."""


def doctor() -> None:
    """List what works on this box and the next step for what does not."""

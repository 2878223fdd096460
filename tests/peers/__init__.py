"""Local stand-ins for external services, speaking their wire formats, for tests to drive."""

"""airi agent: the headless daemon of the airi control room."""

__version__ = "0.1.0"

"""vault: a personal, end-to-end encrypted notes vault for the terminal."""

__version__ = "0.1.0"

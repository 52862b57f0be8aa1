"""Hearth: a personal AI assistant that lives on the user's own computer."""

__version__ = "0.1.0"

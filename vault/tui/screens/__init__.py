"""Screens: first run, unlock, the main screen, dialogs and help."""

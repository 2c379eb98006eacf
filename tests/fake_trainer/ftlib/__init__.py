"""Layouts and write machinery of the fake trainers (see ../README.md)."""

"""Docked panels around the canvas."""

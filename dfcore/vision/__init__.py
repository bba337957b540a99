"""Frames in, face crops out: detection, tracking, Face Mesh and the one preprocessing module."""

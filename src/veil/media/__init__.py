"""Media input and output: pictures (Pillow) and video (PyAV)."""

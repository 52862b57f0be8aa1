"""The Qt shell: the only package that imports PySide6. Everything here is thin over app.core."""

"""cockernel: a Chain-of-Code Jupyter kernel that runs cells through lmulator."""

from lmulator import __version__

__all__ = ["DISPLAY_NAME", "KERNEL_NAME", "__version__"]
KERNEL_NAME = "coc"
DISPLAY_NAME = "Chain of Code (Python)"

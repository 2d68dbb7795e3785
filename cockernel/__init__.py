"""cockernel: a Chain-of-Code Jupyter kernel that runs cells through lmulator."""

__version__ = "0.1.0"
KERNEL_NAME = "coc"
DISPLAY_NAME = "Chain of Code (Python)"

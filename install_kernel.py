"""Install the Chain of Code (Python) kernelspec: ``python install_kernel.py [--user|--sys-prefix|--prefix P]``."""

import sys

from cockernel.install import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

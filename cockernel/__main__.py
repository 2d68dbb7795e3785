"""``python -m cockernel install [...]``, or ``python -m cockernel -f CONNECTION_FILE``."""

import sys


def main() -> None:
    """Install the kernelspec, or start the kernel."""
    if len(sys.argv) > 1 and sys.argv[1] == "install":
        from .install import main as install_main

        sys.exit(install_main(sys.argv[2:]))
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import CocKernel

    IPKernelApp.launch_instance(kernel_class=CocKernel)


main()

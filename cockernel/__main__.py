"""``python -m cockernel install [...]``, or ``python -m cockernel -f CONNECTION_FILE``."""

import sys


def main() -> None:
    """Install the kernelspec, or start the kernel (confined, behind its broker)."""
    if len(sys.argv) > 1 and sys.argv[1] == "install":
        from .install import main as install_main

        sys.exit(install_main(sys.argv[2:]))
    from lmulator.errors import ConfigError
    from lmulator.sandbox import sandbox_from_env

    try:
        enabled = sandbox_from_env().enabled
    except ConfigError as exc:
        print(f"cockernel: error: {exc}", file=sys.stderr)
        sys.exit(2)
    if enabled:
        from .broker import main as broker_main

        sys.exit(broker_main(sys.argv[1:]))
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import CocKernel

    IPKernelApp.launch_instance(kernel_class=CocKernel)


main()

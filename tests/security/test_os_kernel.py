"""Every operating-system attack family, sent to one real kernel with the policy ``trusted``:
nothing gets through, and the kernel keeps its state."""

import pytest

from . import test_os_files, test_os_network, test_os_processes, test_os_secrets, test_os_syscalls
from .os_attack import kernel_for, run_in_kernel

#: Payloads that end the process they run in when they are refused nothing: a kernel is kept
#: alive across payloads here, so those run through the CLI only.
CLI_ONLY = ("os.execv(",)

KERNEL_PAYLOADS = [
    # the connection files of other kernels, beside this kernel's own
    "from ipykernel.kernelapp import IPKernelApp\nimport glob, os\n"
    "d = os.path.dirname(IPKernelApp.instance().abs_connection_file)\n"
    "for p in glob.glob(d + '/*.json'):\n    print(open(p).read())",
    "from ipykernel.kernelapp import IPKernelApp\nimport os\n"
    "print('BREACH:', os.listdir(os.path.dirname(IPKernelApp.instance().abs_connection_file)))",
    # the shell's own history and profile
    "ip = get_ipython()\nprint(ip.profile_dir.location, ip.history_manager.hist_file)\n"
    "print(open('HOME/.ipython/profile_default/startup/00-evil.py', 'w'))",
    "%history -f OUTSIDE/history.py",
    "!echo BREACH: shell escape",
    "%%bash\necho BREACH: bash magic",
]

FAMILIES = {
    module.FAMILY: [p for p in module.PAYLOADS if not any(c in p for c in CLI_ONLY)]
    for module in (test_os_secrets, test_os_files, test_os_network, test_os_processes)
}
FAMILIES["kernel"] = KERNEL_PAYLOADS
FAMILIES["syscalls"] = [  # those that need no planted segment or datagram socket
    p for p in test_os_syscalls.PAYLOADS if "SHM_KEY" not in p and "DGRAM_PATH" not in p
]


@pytest.fixture(scope="module")
def kernel(target):
    kernel = kernel_for(target)
    yield kernel
    kernel.planted.unlink()
    kernel.close()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_kernel_holds_with_the_trusted_policy(kernel, target, family):
    kernel.run("kept = [1, 2, 3]")
    for payload in FAMILIES[family]:
        output = run_in_kernel(kernel, target, payload)
        assert target.breaches(output) == [], (payload, output)
        assert kernel.run("sum(kept)").result == "6", f"the kernel lost its state after {payload!r}"

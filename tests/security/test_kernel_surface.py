"""The kernel's own surface under the restricted policy (issue #12, family 6): magic arguments,
magics that name objects or files, widgets, and what the LM writes. Sent to a real kernel."""

import pytest

from ..kernel.helpers import Kernel


@pytest.fixture(scope="module")
def _kernel(_server_process, tmp_path_factory):
    kernel = Kernel(
        env={"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"},
        cwd=str(tmp_path_factory.mktemp("notebook")),
    )
    yield kernel
    kernel.close()


@pytest.fixture
def kernel(_kernel, lm):
    _kernel.run("%mode python")
    _kernel.run("kept = [1, 2, 3]")
    yield _kernel
    after = _kernel.run("sum(kept)")
    assert after.status == "ok" and after.result == "6", "the kernel lost its state"


def refused(ex, word="PolicyError"):
    """Whether an execution failed with a policy refusal (an error or a printed refusal)."""
    text = ex.stdout + str(ex.of("error")) + str(ex.of("stream"))
    return ex.status == "error" or word in text or "outside the notebook" in text


def test_magic_arguments_are_not_expanded(kernel):
    ex = kernel.run("%lm temperature={().__class__.__base__.__subclasses__().__len__()}")
    assert ex.status == "error" and "__subclasses__" in str(ex.messages)  # as written: refused
    assert kernel.run("%lm").stdout.count("temperature") == 1
    ex = kernel.run("n = 3\n%lm timeout=$n")
    assert ex.status == "error" and "set timeout" not in ex.stdout


@pytest.mark.parametrize(
    "line",
    [
        "%pinfo get_ipython.__globals__",
        "%pinfo2 kept.__class__.__subclasses__",
        "%page display.__globals__",
        "%psearch display.__*",
        "get_ipython.__globals__?",
        "display.__code__??",
    ],
)
def test_magics_that_name_objects_follow_the_attribute_policy(kernel, line):
    assert refused(kernel.run(line)), line


def test_magics_that_write_files_stay_in_the_notebooks_directory(kernel):
    assert refused(kernel.run("%history -f /tmp/escaped-history.py"))
    assert refused(kernel.run("%history -n -f ../escaped-history.py"))
    assert kernel.run("%history -f kept-history.py").status == "ok"
    assert refused(kernel.run("%lm replay_file=/etc/passwd record=replay"))
    assert refused(kernel.run("%lm cache=/root/.cache/stolen.sqlite"))
    assert "/etc/passwd" not in kernel.run("%lm").stdout


@pytest.mark.parametrize(
    "source",
    [
        "import ipywidgets\nipywidgets.IntSlider().trait_values()['comm']",
        "import ipywidgets\nipywidgets.IntSlider().traits()['comm']",
        "import ipywidgets\nipywidgets.IntSlider().trait_metadata('comm', 'x')",
        "import ipywidgets\ntype(ipywidgets.IntSlider()).class_traits()",
        "import ipywidgets\nw = ipywidgets.IntSlider()\nclass O:\n    pass\n"
        "ipywidgets.dlink((w, 'comm'), (ipywidgets.IntSlider(), 'value'))",
        "import ipywidgets\nipywidgets.link((ipywidgets.Text(), 'comm'), (ipywidgets.Text(), 'comm'))",
        "import ipywidgets\nipywidgets.IntSlider().observe(print, names='comm')",
        "import ipywidgets\nipywidgets.get_ipython()",
        "import ipywidgets\nipywidgets.Image.from_file('/etc/hostname')",
        "import ipywidgets\nipywidgets.Widget.widgets",
    ],
)
def test_widgets_never_hand_out_comms_or_the_kernel(kernel, source):
    assert refused(kernel.run(source)), source


def test_observing_every_trait_never_sees_the_comm(kernel):
    ex = kernel.run(
        "import ipywidgets\nseen = []\nw = ipywidgets.IntSlider()\n"
        "w.observe(lambda change: seen.append(change['name']))\nw.value = 3\nw.close()\nseen"
    )
    assert ex.status == "ok", ex.of("error")
    assert "value" in ex.result and "comm" not in ex.result
    assert (
        kernel.run(
            "import ipywidgets\nt = ipywidgets.IntText()\ns = ipywidgets.IntSlider()\n"
            "ipywidgets.dlink((s, 'value'), (t, 'value'))\ns.value = 7\nt.value"
        ).result
        == "7"
    )


def test_an_lm_program_cannot_rebind_the_kernels_names(kernel, lm):
    program = "get_ipython = lambda: None\ndisplay = print\nanswer = 2"
    lm.rules({"match": ["Question: Rebind"], "content": f"```python\n{program}\n```"})
    ex = kernel.run("%%coc\nRebind the names?")
    assert "were put back" in ex.stdout
    assert kernel.run("%mode").status == "ok"  # magics still reach the real shell
    assert kernel.run("display").result != "<built-in function print>"


def test_code_the_lm_wrote_never_runs_a_magic_later(kernel, lm):
    program = (
        "class Answer:\n    def __repr__(self):\n"
        "        get_ipython().run_line_magic('policy', 'trusted')\n        return 'a'\n"
        "def later():\n    get_ipython().run_line_magic('policy', 'trusted')\n"
        "answer = Answer()"
    )
    lm.rules({"match": ["Question: Later"], "content": f"```python\n{program}\n```"})
    kernel.run("%%coc\nLater?")
    kernel.run("answer")  # its __repr__ runs after the program ended
    kernel.run("later()")  # and so does its function, called from a cell
    assert "restricted" in kernel.run("%lm").stdout

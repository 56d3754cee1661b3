#!/usr/bin/env python3
"""Trim the pip-installed runtime layer to what the detect function loads (python3 trim.py DIR).

The function imports: ai_edge_litert.interpreter (the interpreter wrapper and its two shared
libraries), numpy's core + lib + linalg/matrixlib (imported by numpy itself), Pillow's core with
the JPEG/PNG/WebP/GIF/BMP (+TIFF for EXIF, MPO) plugins, and multipart (lazily). Everything
below is verified unused by tests/test_api_template.py::test_sam_build_layer, which imports the
trimmed layer in a clean python3.11 and answers real requests through it.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys

# Paths relative to the layer's python/ directory (globs allowed).
REMOVE = [
    # whole distributions the interpreter never imports (pulled in by ai-edge-litert's metadata)
    "tqdm", "tqdm-*.dist-info", "flatbuffers", "flatbuffers-*.dist-info", "bin",
    # ai_edge_litert: only interpreter.py + metrics_portable/interface + the interpreter wrapper
    "ai_edge_litert/aot", "ai_edge_litert/tools", "ai_edge_litert/vendors",
    "ai_edge_litert/*_pb2.py", "ai_edge_litert/compiled_model.py", "ai_edge_litert/tensor_buffer.py",
    "ai_edge_litert/hardware_accelerator.py", "ai_edge_litert/schema_py_generated.py",
    "ai_edge_litert/_pywrap_analyzer_wrapper.so", "ai_edge_litert/_pywrap_litert_compiled_model_wrapper.so",
    "ai_edge_litert/_pywrap_litert_tensor_buffer_wrapper.so", "ai_edge_litert/_pywrap_modify_model_interface.so",
    "ai_edge_litert/_pywrap_string_util.so", "ai_edge_litert/_pywrap_tensorflow_lite_calibration_wrapper.so",
    "ai_edge_litert/_pywrap_tensorflow_lite_metrics_wrapper.so",
    "ai_edge_litert/format_converter_wrapper_pybind11.so", "ai_edge_litert/pywrap_genai_ops.so",
    # numpy: build/test/typing support and lazily-imported subpackages the function never touches
    "numpy/f2py", "numpy/distutils", "numpy/_pyinstaller", "numpy/testing", "numpy/typing",
    "numpy/random", "numpy/fft", "numpy/polynomial", "numpy/ma", "numpy/doc",
    "numpy/_core/include", "numpy/_core/lib", "numpy/_core/_simd.*.so",
    "numpy/_core/_multiarray_tests.*.so", "numpy/_core/_operand_flag_tests.*.so",
    "numpy/_core/_rational_tests.*.so", "numpy/_core/_struct_ufunc_tests.*.so",
    "numpy/_core/_umath_tests.*.so", "numpy/conftest.py",
    # Pillow: fonts, colour management, AVIF, Tk, ImageMath/Morph and the libraries only they need
    # (not _imagingmath: GifImagePlugin imports ImageMath)
    "PIL/_avif.*.so", "PIL/_imagingft.*.so", "PIL/_imagingcms.*.so", "PIL/_imagingtk.*.so",
    "PIL/_imagingmorph.*.so",
    "pillow.libs/libavif-*", "pillow.libs/libfreetype-*", "pillow.libs/libharfbuzz-*",
    "pillow.libs/libbrotlicommon-*", "pillow.libs/libbrotlidec-*", "pillow.libs/liblcms2-*",
    "pillow.libs/libpng16-*",
]
# Anywhere in the tree.
# (__pycache__ goes too: the Makefile recompiles everything with python3.11 in unchecked-hash
# mode, since /opt is read-only and a missing or stale .pyc would be recompiled every cold start)
REMOVE_ANYWHERE_DIRS = {"__pycache__", "tests"}
REMOVE_ANYWHERE_FILES = ["*.pyc", "*.pyi", "*.h", "*.c", "*.pxd", "*.pyx", "RECORD", "INSTALLER"]
# Not patched by auditwheel (no bundled .libs), shipped with debug info: safe to strip.
STRIP = ["ai_edge_litert/*.so"]


def _glob(root: str, pattern: str) -> list[str]:
    base, _, name = pattern.rpartition("/")
    folder = os.path.join(root, base)
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if fnmatch.fnmatch(n, name)]


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def du(path: str) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total


def trim(root: str) -> None:
    before = du(root)
    for pattern in REMOVE:
        for path in _glob(root, pattern):
            _remove(path)
    for folder, dirs, files in os.walk(root, topdown=True):
        for d in [d for d in dirs if d in REMOVE_ANYWHERE_DIRS]:
            shutil.rmtree(os.path.join(folder, d))
            dirs.remove(d)
        for name in files:
            if any(fnmatch.fnmatch(name, p) for p in REMOVE_ANYWHERE_FILES):
                os.remove(os.path.join(folder, name))
    strip = shutil.which("strip")
    for pattern in STRIP:
        for path in _glob(root, pattern):
            if strip:
                subprocess.run([strip, "--strip-debug", path], check=True)
    if not strip:
        print("trim.py: 'strip' (binutils) not found; LiteRT libraries keep their debug info", file=sys.stderr)
    print(f"trim.py: {before / 1e6:.1f} MB -> {du(root) / 1e6:.1f} MB in {root}")


if __name__ == "__main__":
    trim(sys.argv[1])

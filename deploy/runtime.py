"""What Holoscan needs from the start of the process, set up by re-running it once.

The SDK's Holoscan loads ``libcudart.so.13`` even on CPU (PyPI's ``nvidia-cuda-runtime`` ships it, but
the dynamic loader reads LD_LIBRARY_PATH only when a process starts) and wants a 32 MiB stack
(``ulimit -s 32768``), which also applies only from the start. Importing nothing heavy, this module
runs before holoscan is imported.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import sys
from pathlib import Path

STACK_BYTES = 32 * 1024 * 1024  # holoscan's recommended stack (ulimit -s 32768)
REEXEC_FLAG = "SYNTHTRUST_DEPLOY_RUNTIME"


def cuda_runtime_dir() -> Path | None:
    """The lib folder of PyPI's ``nvidia-cuda-runtime`` (libcudart.so.13), if installed."""
    spec = importlib.util.find_spec("nvidia")
    for root in spec.submodule_search_locations if spec else []:
        for lib in sorted(Path(root).glob("cu*/lib")):
            if any(lib.glob("libcudart.so*")):
                return lib
    return None


def ensure_runtime() -> None:
    """Re-run this process once with libcudart's folder on LD_LIBRARY_PATH and a 32 MiB stack; a no-op
    where both are already so (or no nvidia-cuda-runtime is installed, as in a CUDA image)."""
    if os.environ.get(REEXEC_FLAG):
        return
    env = dict(os.environ, **{REEXEC_FLAG: "1"})
    lib = cuda_runtime_dir()
    paths = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    small_stack = soft != resource.RLIM_INFINITY and soft < STACK_BYTES
    if (lib is None or str(lib) in paths) and not small_stack:
        return
    if lib is not None and str(lib) not in paths:
        env["LD_LIBRARY_PATH"] = os.pathsep.join([str(lib), *paths])
    if small_stack:
        limit = STACK_BYTES if hard == resource.RLIM_INFINITY else min(STACK_BYTES, hard)
        resource.setrlimit(resource.RLIMIT_STACK, (limit, hard))
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

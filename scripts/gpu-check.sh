#!/usr/bin/env bash
# The GPU checks of issue #10 in one call on a machine with an NVIDIA GPU and a CUDA PyTorch (python3 -c "import torch").
# Prepare here first: dotnet fsi build.fsx gpu-bundle (artifacts/patchdescent-external with the host and the test
# program, and artifacts/dotnet-runtime.tar.xz; carry both to the GPU machine). Figures go to $OUT (default out/gpu-check):
# doctor.txt, cuda-tests.txt, bench.txt, discovery.txt. Set TORCH_LIB to skip asking Python for torch/lib.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu-check}
mkdir -p "$OUT"
status=0

# .NET: the one on PATH, else the runtime tarball unpacked into /tmp/dotnet.
if ! command -v dotnet >/dev/null 2>&1; then
    mkdir -p /tmp/dotnet && tar -xJf artifacts/dotnet-runtime.tar.xz -C /tmp/dotnet || exit 1
    export DOTNET_ROOT=/tmp/dotnet PATH=/tmp/dotnet:$PATH
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

TORCH_LIB=${TORCH_LIB:-$(python3 -c "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")}
export PATCHDESCENT_LIBTORCH="$TORCH_LIB"
# libtorch_cuda finds the CUDA libraries through its RPATH in a pip install; LD_LIBRARY_PATH covers other layouts.
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
P="dotnet artifacts/patchdescent-external/patchdescent.dll"

step() { local name=$1; shift; echo "== $name: $*"; "$@" 2>&1 | tee "$OUT/$name.txt"; local rc=${PIPESTATUS[0]}; [ "$rc" = 0 ] || { echo "== $name exited $rc"; status=1; }; }

step doctor $P doctor --device cuda
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >>"$OUT/doctor.txt" 2>&1
step cuda-tests dotnet artifacts/patchdescent-external/PatchDescent.Tests.dll --filter-test-list "Engine on CUDA"
step bench $P bench --device cuda
step discovery $P bench --device cuda --discovery-steps "${DISCOVERY_STEPS:-3000}" --positions 24
exit $status

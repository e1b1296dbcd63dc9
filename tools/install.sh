#!/usr/bin/env bash
# One-command setup of mmattn: a virtual environment in the repo (.venv) with PyTorch,
# mmengine 0.10.7, mmcv 2.1.0 built with its C++ ops, mmdet 3.3, mmsegmentation 1.2,
# pycocotools, mmpretrain 1.2 (the ImageNet stage) with a matching torchvision where one exists,
# the test tools and mmattn itself (editable).
#
# Idempotent: every step checks whether its result is already there and skips it if so.
# Environment knobs:
#   MMATTN_VENV     where the environment lives (default: <repo>/.venv)
#   MMATTN_PYTHON   interpreter used to create it (default: python3.11, else python3)
#   MMATTN_TORCH    pip requirement for PyTorch when none is installed yet. Default: the
#                   version the base interpreter already has (a GPU user's CUDA build stands),
#                   else torch==2.13.0. Nothing here forces the CPU build.
#   MMATTN_JOBS     parallel compile jobs for mmcv's ops (default: number of cores)
#   MMATTN_TORCHVISION  pip requirement for torchvision, which mmpretrain imports (default: the
#                   release of the installed torch's family: torch 2.N -> torchvision 0.(N+15).*,
#                   installed without dependencies so that torch stays). A torchvision that
#                   does not import with this torch (e.g. the registry's CUDA build on a CPU
#                   torch) is removed again, with a note on what the ImageNet stage needs.
#   MMATTN_ALLOW_CPU_MMCV=1  accept mmcv ops without CUDA kernels although torch has CUDA
#                   (a machine that never trains on GPU)
#
# GPU machines: when torch has CUDA, mmcv's ops must have CUDA kernels. A prebuilt mmcv 2.1.0
# wheel installed beforehand is kept; otherwise mmcv is built with FORCE_CUDA=1 and the nvcc of
# torch's CUDA_HOME, and the script stops, with the fix, when there is none or when the
# installed ops lack CUDA kernels (mmattn/utils/mmcv_cuda.py decides; tests use stand-ins).
#
# Sourcing this file (tests) defines the steps without running them.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MMATTN_VENV:-$repo/.venv}"
py="$venv/bin/python"
mmcv_cuda="$repo/mmattn/utils/mmcv_cuda.py"  # run by path: mmattn is installed last
t_start=$SECONDS

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }
step() {  # step NAME CMD...: run a step and print its elapsed time
  local name="$1"; shift
  local t0=$SECONDS
  say "-> $name"
  "$@" || die "step '$name' failed (see the output above)."
  say "   $name: $((SECONDS - t0)) s"
}
pip_install() {  # pip install, without the "Location ... is ignored" noise of local indexes
  "$py" -m pip install --disable-pip-version-check "$@" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
}
have() { "$py" - "$@" >/dev/null 2>&1; }  # have 'python source' : true when it runs cleanly

make_venv() {
  if [ -x "$py" ]; then say "   $venv exists, reusing it"; return; fi
  local base="${MMATTN_PYTHON:-}"
  if [ -z "$base" ]; then
    if command -v python3.11 >/dev/null 2>&1; then base=python3.11; else base=python3; fi
  fi
  "$base" -m venv "$venv"
}

install_build_tools() {
  pip_install -q -r "$repo/requirements/build.txt"
}

install_torch() {
  if have <<< 'import torch'; then
    say "   keeping the installed $("$py" -c 'import torch; print("torch", torch.__version__)')"
    return
  fi
  local spec="${MMATTN_TORCH:-}"
  if [ -z "$spec" ]; then
    local base_version
    base_version=$("${MMATTN_PYTHON:-python3}" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)
    spec="torch==${base_version:-2.13.0}"
  fi
  say "   installing $spec"
  pip_install -q "$spec"
}

mmcv_ok() { have <<< '
import mmcv, mmcv.ops
from mmcv.ops import nms, roi_align  # noqa: F401 (needs the compiled _ext module)
assert mmcv.__version__ == "2.1.0", mmcv.__version__
'; }

install_mmcv() {
  # mmcv's own requirements first, pinned (mmengine 0.10.7), so that the build step only builds.
  pip_install -q mmengine==0.10.7 opencv-python-headless addict yapf
  if mmcv_ok; then
    # a CUDA torch needs CUDA kernels: stop here rather than at the first GPU op of a run
    "$py" "$mmcv_cuda" check || die "the installed mmcv cannot run on this torch's GPU (fix above)."
    say "   mmcv 2.1.0 with C++ ops already installed, kept"
    return
  fi
  # CUDA torch: build the CUDA kernels (FORCE_CUDA=1, torch's CUDA_HOME); no nvcc: stop now,
  # not after a long CPU-only compile.
  local cuda_out cuda_env=()
  cuda_out=$("$py" "$mmcv_cuda" build-env) || die "cannot build mmcv's CUDA kernels (fix above)."
  if [ -n "$cuda_out" ]; then mapfile -t cuda_env <<< "$cuda_out"; fi
  # mmcv 2.1.0 is an sdist: its ops compile against the installed torch, so no build
  # isolation. The default flags are Python's own CFLAGS (-O3 -g ...); debug info roughly
  # doubles the compile time of each of its 77 files. distutils *replaces* those flags with
  # $CFLAGS/$CXXFLAGS when set, so we pass Python's flags with -g turned into -g0 (keeping
  # -O3 -DNDEBUG), rather than "-g0" alone, which would silently build at -O0.
  # pip caches the built wheel, so a re-install on the same machine skips the compile.
  local log="$venv/mmcv-build.log" flags
  flags=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("CFLAGS") or "-O3")' \
    | sed -E 's/(^| )-g[0-9]?( |$)/ /g')
  flags="$flags -g0"
  say "   building mmcv 2.1.0 with its C++ ops, flags: $flags"
  if [ ${#cuda_env[@]} -gt 0 ]; then
    say "   with CUDA kernels: ${cuda_env[*]} (much longer than the CPU build; set"
    say "   TORCH_CUDA_ARCH_LIST, e.g. 8.0 for A100, to compile for your GPUs only)"
  fi
  say "   (a first CPU build takes ~15 min on 2 cores, a cached wheel seconds; log: $log)"
  env ${cuda_env[@]+"${cuda_env[@]}"} CFLAGS="$flags" CXXFLAGS="$flags" MMCV_WITH_OPS=1 \
    MAX_JOBS="${MMATTN_JOBS:-$(nproc)}" \
    "$py" -m pip install --disable-pip-version-check -v --no-build-isolation mmcv==2.1.0 \
    > "$log" 2>&1 || { tail -n 40 "$log" >&2; die "mmcv build failed; full log in $log"; }
  if ! mmcv_ok; then
    "$py" -c 'import mmcv.ops' 2>&1 | tail -n 5 >&2 || true
    die "mmcv is installed but its C++ ops do not load (built without ops, or against another
torch). Rebuild it with:
  $py -m pip uninstall -y mmcv && $py -m pip cache remove mmcv && bash tools/install.sh"
  fi
  # e.g. a CPU-only wheel that pip reused from its cache
  "$py" "$mmcv_cuda" check || die "mmcv was built without the CUDA kernels torch needs (fix above)."
}

install_openmmlab() {
  pip_install -q -r "$repo/requirements/openmmlab.txt"
}

torchvision_spec() {  # the torchvision release of the installed torch's family
  "$py" -c 'import torch; major, minor = torch.__version__.split("+")[0].split(".")[:2]
assert major == "2", torch.__version__
print(f"torchvision==0.{int(minor) + 15}.*")'
}

install_imagenet_stage() {
  # mmpretrain imports without torchvision; its models, datasets and metrics import it.
  pip_install -q -r "$repo/requirements/imagenet.txt"
  if have <<< 'import torchvision'; then
    say "   keeping the installed torchvision $("$py" -c 'import torchvision as t; print(t.__version__)')"
    return
  fi
  local spec torch_version
  torch_version=$("$py" -c 'import torch; print(torch.__version__)')
  spec="${MMATTN_TORCHVISION:-$(torchvision_spec || true)}"
  if [ -n "$spec" ]; then
    say "   installing $spec (no dependencies: torch $torch_version stays)"
    pip_install -q --no-deps "$spec" || true
    if have <<< 'import torchvision'; then return; fi
    "$py" -m pip uninstall -y -q torchvision >/dev/null 2>&1 || true
  fi
  say "   NOTE: no torchvision that imports with torch $torch_version${spec:+ ($spec does not)}."
  say "   The ImageNet stage (configs/*_in1k.py, mmpretrain) needs one; everything else works"
  say "   without it. Install the torchvision of torch's own build from the index torch came"
  say "   from, e.g. for a CPU torch:"
  say "     $py -m pip install --no-deps '${spec:-torchvision}' --index-url https://download.pytorch.org/whl/cpu"
  say "   or set MMATTN_TORCHVISION to a requirement that fits and rerun tools/install.sh."
}

install_test_tools() {
  pip_install -q -r "$repo/requirements/optional.txt"
  # timm is a test oracle only. Its declared torchvision dependency would pull the registry's
  # CUDA build (which does not import on CPU torch), so timm goes in without dependencies and
  # its remaining ones are listed explicitly.
  pip_install -q -r "$repo/requirements/tests.txt"
  pip_install -q --no-deps timm
}

install_mmattn() {
  pip_install -q --no-deps --no-build-isolation -e "$repo"
}

check_imports() {
  "$py" - <<'EOF'
import torch, mmengine, mmcv, mmdet, mmseg, mmpretrain, mmattn  # noqa: E401
from mmcv.ops import get_compiling_cuda_version, nms  # noqa: F401
kernels = get_compiling_cuda_version()
kernels = 'CPU only' if kernels == 'not available' else f'CUDA {kernels}'
print(f'[install]    torch {torch.__version__} (CUDA {torch.version.cuda}), mmengine '
      f'{mmengine.__version__}, mmcv {mmcv.__version__} (ops ok, {kernels}), mmdet '
      f'{mmdet.__version__}, mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'mmattn {mmattn.__version__}')
try:
    import torchvision
    print(f'[install]    torchvision {torchvision.__version__}: the ImageNet stage can run')
except Exception as error:  # noqa: BLE001  (a CUDA build on CPU torch raises RuntimeError)
    print(f'[install]    torchvision does not import ({type(error).__name__}): the ImageNet '
          'stage cannot run here (see the NOTE above)')
EOF
}

main() {
  say "repo: $repo"
  step "virtual environment ($venv)" make_venv
  step "build tools (setuptools<82, wheel, ninja)" install_build_tools
  step "PyTorch" install_torch
  step "mmcv 2.1.0 with C++ ops" install_mmcv
  step "mmengine, mmdet, mmsegmentation, pycocotools" install_openmmlab
  step "mmpretrain (ImageNet stage) and torchvision" install_imagenet_stage
  step "test and benchmark tools" install_test_tools
  step "mmattn (editable)" install_mmattn
  step "import check" check_imports
  say "done in $((SECONDS - t_start)) s. Run the tests with the command in README.md."
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main; fi

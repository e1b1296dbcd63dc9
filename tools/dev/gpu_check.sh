#!/usr/bin/env bash
# The acceptance check for a lent GPU: one command, one Markdown report, at most 8 minutes.
#
#   bash tools/dev/gpu_check.sh [--wheels DIR] [--python PY] [--device cuda|cpu] [--out FILE]
#                               [--only CHECK ...] [--budget SECONDS]
#
# Needs the repository and an interpreter with torch (default: .venv/bin/python when the repo
# has one, else python3). --wheels DIR: a folder of pre-downloaded wheels (pytest, timm,
# lambda-networks, mmengine, mmdet, mmseg, ... made as docs/testing.md shows), installed
# offline (--no-index --no-deps) into a temporary folder put first on PYTHONPATH and removed
# at exit; nothing else is installed or changed. The remaining options go to
# tools/dev/gpucheck/checks.py, which runs the checks (its docstring lists them) and writes the
# report (default <repo>/work_dirs/gpu_check/REPORT.md). Exit code 1 when a check fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
wheels="" py=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="$2"; shift 2 ;;
    --python) py="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$py" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then py="$repo/.venv/bin/python"; else py=python3; fi
fi

installed="none"
site_path=""
if [ -n "$wheels" ]; then
  [ -d "$wheels" ] || { echo "[gpu_check] --wheels $wheels: no such folder" >&2; exit 2; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  shopt -s nullglob
  files=("$wheels"/*.whl)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || { echo "[gpu_check] --wheels $wheels holds no .whl file" >&2; exit 2; }
  echo "[gpu_check] installing ${#files[@]} wheels from $wheels into $tmp (offline)"
  "$py" -m pip install --disable-pip-version-check -q --no-index --no-deps --target "$tmp" \
    "${files[@]}"
  site_path="$tmp"
  names=$(cd "$wheels" && ls ./*.whl | sed 's|^\./||; s/-py.*//; s/-cp.*//' | tr '\n' ' ')
  installed="${#files[@]} wheels from $wheels: $names"
fi

export PYTHONPATH="${site_path:+$site_path:}$repo${PYTHONPATH:+:$PYTHONPATH}"
"$py" "$repo/tools/dev/gpucheck/checks.py" --installed "$installed" ${args[@]+"${args[@]}"}

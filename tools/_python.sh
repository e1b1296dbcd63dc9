# Sourced by the shell launchers: the repo's .venv interpreter unless $PYTHON says otherwise,
# and the repo on PYTHONPATH so that configs' custom_imports find mmattn.
MMATTN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$MMATTN_ROOT/.venv/bin/python" ]; then PYTHON="$MMATTN_ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
export PYTHONPATH="$MMATTN_ROOT${PYTHONPATH:+:$PYTHONPATH}"

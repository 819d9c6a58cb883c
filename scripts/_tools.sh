# Sourced by the scripts: create (once) and refresh .venv-tools, the virtual environment of the
# deployment tools (SAM CLI, cfn-lint) that the template tests call. Reinstalled only when
# scripts/tools-requirements.txt changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv-tools/bin/python ]; then
  "$PYTHON" -m venv .venv-tools
fi
tools_stamp=.venv-tools/.installed-$(cksum < scripts/tools-requirements.txt | cut -d' ' -f1)
if [ ! -f "$tools_stamp" ]; then
  .venv-tools/bin/python -m pip install --quiet --upgrade pip
  .venv-tools/bin/python -m pip install --quiet -r scripts/tools-requirements.txt
  rm -f .venv-tools/.installed-*
  touch "$tools_stamp"
fi

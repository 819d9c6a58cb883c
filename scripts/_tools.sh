# Sourced by the scripts after scripts/_venv.sh, whose functions it uses: create (once) and refresh
# .venv-tools, the virtual environment of the deployment tools (SAM CLI, cfn-lint) that the
# template tests call. Reinstalled only when scripts/tools-requirements.txt changes. An existing
# .venv-tools stays even when PYTHON names another interpreter: the tools do not depend on it, and
# reinstalling them takes minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! declare -F venv_refresh >/dev/null; then
  echo "scripts/_tools.sh: source scripts/_venv.sh first" >&2
  exit 1
fi
venv_setup .venv-tools " (SAM CLI, cfn-lint)" "a few minutes"
venv_refresh .venv-tools scripts/tools-requirements.txt -r scripts/tools-requirements.txt

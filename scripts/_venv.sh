# Sourced by the scripts: create (once) and refresh the project's virtual environment in .venv.
# Setup takes a while, so whatever is installed is announced in one line on stderr; a run with
# nothing to install prints nothing. scripts/_tools.sh reuses venv_setup and venv_refresh;
# scripts/test calls venv_other for the venvs of the other Pythons it tests on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Only an interpreter the user chose replaces an existing .venv made by another one: with the
# default, whatever .venv was made with stays.
python_chosen=${PYTHON:+yes}
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null; then
  if [ -n "$python_chosen" ]; then
    echo "PYTHON=$PYTHON: not found" >&2
  else
    echo "python3: not found; mangum_like needs Python 3.10 or newer; set PYTHON=python3.X" >&2
  fi
  exit 1
fi
# One start of $PYTHON tells its major.minor, the interpreter a venv made by it would run, and the
# one .venv runs now (bin/python links to it), both with symlinks resolved.
python_status=0
python_facts=$("$PYTHON" -c '
import os, sys
print("%d.%d" % sys.version_info[:2])
print(os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable))
print(os.path.realpath(sys.argv[1]))
sys.exit(sys.version_info < (3, 10))' .venv/bin/python) || python_status=$?
if [ "$python_status" = 127 ]; then
  # What a pyenv shim answers for a version that is installed but not selected.
  echo "PYTHON=$PYTHON: not found" >&2
  exit 1
elif [ "$python_status" != 0 ]; then
  echo "mangum_like needs Python 3.10 or newer; set PYTHON=python3.X" >&2
  exit 1
fi
{ read -r python_version; read -r python_base; read -r venv_base; } <<<"$python_facts"

# What can fail inside the functions below ends the script with an explicit `|| exit`: errexit
# would too, but bash then also prints a bogus "pop_scope" error when the file was sourced with an
# assignment in front (EXTRAS=dev source ...).

# Tests only (tests/test_scripts_setup.py): MANGUM_LIKE_SETUP_PIP names a command run as
# `COMMAND VENV PIP-INSTALL-ARGS...` instead of pip, so that this logic runs offline in a moment;
# the venvs are then made without pip, which nothing would use.
venv_pip() {
  local dir=$1
  shift
  if [ -n "${MANGUM_LIKE_SETUP_PIP:-}" ]; then
    "$MANGUM_LIKE_SETUP_PIP" "$dir" "$@" || exit
  else
    "$dir/bin/python" -m pip install --quiet "$@" || exit
  fi
}

# venv_create DIR: make DIR a fresh venv of $PYTHON; --clear drops what an earlier one left.
venv_create() {
  "$PYTHON" -m venv --clear ${MANGUM_LIKE_SETUP_PIP:+--without-pip} "$1" || exit
  venv_fresh=$1
}

# venv_setup DIR WHAT DURATION: create DIR unless it has a working interpreter, saying so.
venv_setup() {
  if [ -x "$1/bin/python" ]; then
    return 0
  fi
  if [ -e "$1" ]; then
    echo "recreating $1 with Python $python_version ($1/bin/python is missing; $3)" >&2
  else
    echo "setting up $1$2 with Python $python_version (first run, $3)" >&2
  fi
  venv_create "$1"
}

# venv_refresh DIR FILE PIP-INSTALL-ARGS...: install into DIR, unless that was done for this
# content of FILE (the stamp DIR/.installed-CHECKSUM says so).
venv_refresh() {
  local dir=$1 src=$2 stamp
  shift 2
  stamp=$dir/.installed-$(cksum <"$src" | cut -d' ' -f1) || exit
  if [ -f "$stamp" ]; then
    return 0
  fi
  # A venv made just now has had its line already.
  if [ "${venv_fresh:-}" != "$dir" ]; then
    if compgen -G "$dir/.installed-*" >/dev/null; then
      echo "updating $dir: $src changed" >&2
    else
      echo "finishing $dir: its last setup did not complete" >&2
    fi
  fi
  venv_pip "$dir" --upgrade pip
  venv_pip "$dir" "$@"
  rm -f "$dir"/.installed-* || exit
  touch "$stamp" || exit
}

# python_of VERSION: print the path of an interpreter of Python VERSION (3.13) that runs:
# pythonVERSION on the PATH, else a build of pyenv's (whose shim for a version that is installed
# but not selected does not run).
python_of() {
  local version=$1 candidate
  for candidate in "$(command -v "python$version" || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    if [ -n "$candidate" ] && "$candidate" -c '
import sys
sys.exit("%d.%d" % sys.version_info[:2] != sys.argv[1])' "$version" >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# venv_other VERSION: create (once) and refresh .venv-VERSION, a venv of Python VERSION with the
# `test` extra, for the library's tests on that Python; end the script, saying what to do, when
# there is no such interpreter.
venv_other() {
  local version=$1 dir=.venv-$1 interpreter
  if ! interpreter=$(python_of "$version"); then
    echo "Python $version: not found (neither python$version on the PATH nor a pyenv build in" \
      "${PYENV_ROOT:-$HOME/.pyenv}/versions/$version.*); ./scripts/test runs the library's tests" \
      "on it too: install it (pyenv install $version, uv python install $version, or your" \
      "distribution's python$version), or name the versions to test in" \
      "MANGUM_LIKE_TEST_PYTHONS (\"\" for none)" >&2
    exit 1
  fi
  PYTHON=$interpreter python_version=$version venv_setup "$dir" " (the library's tests)" \
    "under a minute"
  # Git ignores the venv through a .gitignore of its own, as Python 3.13's venv writes one.
  if [ ! -e "$dir/.gitignore" ]; then
    echo "*" >"$dir/.gitignore" || exit
  fi
  venv_refresh "$dir" pyproject.toml -e ".[test]"
}

if [ -n "$python_chosen" ] && [ -x .venv/bin/python ]; then
  # pyvenv.cfg says `version` (venv) or `version_info` (virtualenv, uv).
  venv_version=$(awk -F' *= *' '$1 == "version" || $1 == "version_info" {
    split($2, v, "."); print v[1] "." v[2]; exit }' .venv/pyvenv.cfg 2>/dev/null || true)
  if [ -n "$venv_version" ] && [ "$venv_version" != "$python_version" ]; then
    echo "recreating .venv with Python $python_version (it was made with Python $venv_version)" >&2
    venv_create .venv
  elif [ "$venv_base" != "$python_base" ]; then
    echo "recreating .venv with $python_base (it was made with $venv_base)" >&2
    venv_create .venv
  fi
fi
venv_setup .venv "" "about a minute"
venv_refresh .venv pyproject.toml -e ".[$EXTRAS]"

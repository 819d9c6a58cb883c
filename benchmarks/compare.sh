#!/usr/bin/env bash
# Per-invocation cost of the working tree against an earlier revision, same harness, interleaved.
#
#   benchmarks/compare.sh REV [ROUNDS]      e.g. benchmarks/compare.sh main~5 2
#
# Checks REV out into a temporary worktree, then runs benchmarks/bench.py of the working tree
# ROUNDS times (default 2) for each side, alternating, with the package on PYTHONPATH; prints the
# mangum_like rows of each run. Needs .venv with the bench extra (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: benchmarks/compare.sh REV [ROUNDS]}
rounds=${2:-2}
here=$PWD
python=$here/.venv/bin/python
old=$(mktemp -d)
out=$(mktemp -d)
trap 'git worktree remove --force "$old" >/dev/null 2>&1 || true; rm -rf "$old"' EXIT
git worktree add --detach --quiet "$old" "$rev"
for round in $(seq "$rounds"); do
  for side in "$rev" working-tree; do
    tree=$old; [ "$side" = working-tree ] && tree=$here
    (cd "$out" && PYTHONPATH=$tree "$python" "$here/benchmarks/bench.py" \
      --output "$out/$round.md" >/dev/null)
    echo "## $side, round $round (median µs, fastest round µs, vs floor)"
    grep -E '^\| (raw|starlette) \| .* \| mangum_like auto \|' "$out/$round.md" \
      | awk -F'|' '{printf "%-10s %-18s %8s %8s %s\n", $2, $3, $5, $6, $7}'
  done
done

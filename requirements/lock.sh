#!/usr/bin/env bash
# Regenerate the locks, requirements/py3XX.txt: ns6g's whole environment (its dependencies with the test
# extra, the build requirements, pip and torch) at exact versions, one file per Python version, for x86-64
# Linux with glibc >= 2.28. Run by `make lock`, which supplies UV (a pinned uv), TORCH (the torch version)
# and PYTHON (>= 3.11). Pins already in a lock are kept while pyproject.toml allows them; UPGRADE=1 moves
# every package to its newest allowed version.
#
# torch: the Python 3.11 lock (CI's) names the CPU build, TORCH+cpu, which these machines keep in
# /opt/wheels (elsewhere it is looked up in PyTorch's CPU index). PyPI's Linux torch is the CUDA build and
# pulls ~3 GB of nvidia-* packages; no cp312/cp313 CPU wheel is reachable here, so the 3.12 and 3.13 locks
# name PyPI's torch (README.md, "Install", says how to install those on a CPU-only machine).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${UV:?UV=path to uv}" "${TORCH:?TORCH=torch version}" "${PYTHON:=python3}"

cpu_torch_source=(--find-links /opt/wheels)
[ -d /opt/wheels ] || cpu_torch_source=(--extra-index-url https://download.pytorch.org/whl/cpu)
upgrade=()
[ -n "${UPGRADE:-}" ] && upgrade=(--upgrade)
# pyproject.toml declares the build requirements; make setup installs ns6g without build isolation
build_requires=$("$PYTHON" -c \
    'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')

for version in 3.11 3.12 3.13; do
    out=requirements/py${version/./}.txt
    torch="torch==$TORCH" source=()
    if [ "$version" = 3.11 ]; then torch="torch==$TORCH+cpu" source=("${cpu_torch_source[@]}"); fi
    stdin="$build_requires pip $torch"
    args=(pyproject.toml --extra test - --python-version "$version" --python-platform x86_64-manylinux_2_28)
    tr ' ' '\n' <<<"$stdin" | "$UV" pip compile "${args[@]}" "${source[@]}" "${upgrade[@]}" \
        --no-header --quiet --output-file "$out"
    {
        echo "# ns6g's whole environment for CPython $version on x86-64 Linux (glibc >= 2.28), exact versions."
        echo "# Made by \`make lock\` (requirements/lock.sh) with $("$UV" --version | cut -d' ' -f1-2):"
        echo "#   uv pip compile ${args[*]} ${source[*]} --output-file $out"
        echo "#   with on stdin: $stdin"
        echo "# Installed by \`make setup\` (pip install --no-deps -r $out; see README.md)."
        cat "$out"
    } >"$out.tmp"
    mv "$out.tmp" "$out"
    echo "$out: $(grep -c '^[a-z]' "$out") packages"
done

# Shared by scripts/run and scripts/test: make .venv and install the project.
# Re-installs only when pyproject.toml changes (a stamp holds its hash).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ACD_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"

pick_python() {
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$py"
            return
        fi
    done
    echo "error: Python >= 3.11 is required" >&2
    exit 1
}

if [ ! -x "$VENV/bin/python" ]; then
    "$(pick_python)" -m venv "$VENV"
fi
sources="$(cat "$ROOT/pyproject.toml" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
want="${sources}${EXTRAS}"
stamp="$VENV/.acd-installed"
installed() {
    # What is installed covers what is wanted: the same extras, or the dev
    # extras when none are wanted (./scripts/run after ./scripts/test must
    # not reinstall and recompile the core).
    [ -f "$stamp" ] && { grep -qxF -- "$want" "$stamp" || { [ -z "$EXTRAS" ] && grep -qxF -- "${sources}[dev]" "$stamp"; }; }
}
if ! installed; then
    if [ -n "$EXTRAS" ] && [ -f "$stamp" ] && grep -qxF -- "$sources" "$stamp"; then
        # ./scripts/run built this very source: add the extras' tools, do not
        # rebuild (and recompile) the project for them.
        "$VENV/bin/python" -c 'import sys, tomllib
extras = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]
print("\n".join(extras[sys.argv[2].strip("[]")]))' "$ROOT/pyproject.toml" "$EXTRAS" |
            xargs "$VENV/bin/python" -m pip install -qq
    else
        "$VENV/bin/python" -m pip install -qq --upgrade pip
        # Compiles the routing core with mypyc in place (setup.py), ~30 s.
        "$VENV/bin/python" -m pip install -qq -e "$ROOT${EXTRAS}"
    fi
    echo "$want" >"$stamp"
elif [ -z "${ACD_PURE_PYTHON:-}" ] &&
    (cd "$ROOT" && "$VENV/bin/python" -c 'import sys, acd.compiled as c; sys.exit(0 if c.STALE else 1)'); then
    echo "the compiled routing core is older than its sources: rebuilding (~30 s)" >&2
    "$VENV/bin/python" -m pip install -qq -e "$ROOT${EXTRAS}"
fi

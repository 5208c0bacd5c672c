#!/usr/bin/env bash
# Runs the render tests (hostile suite included) as an unprivileged user, the way cluster users
# run the sandbox (no root: a user namespace gives it its namespaces and filesystem view).
#
#   sudo bash scripts/ci_nonroot.sh [pytest args...]      (default: tests/render)
#   sudo bash scripts/ci_nonroot.sh --python SCRIPT [args...]   (e.g. benchmarks/render_throughput.py)
#
# The project's interpreter may live where only root can read (pyenv under /root, mode 700), so
# this script, as root and inside a private mount namespace that vanishes with it, shows the
# interpreter, the .venv's site-packages and a copy of the checkout under /opt/verm-ci (read-only
# bind mounts: instant, nothing copied but the sources) and runs pytest there as user `vermci`.
# Chromium for tables: Debian's /usr/bin/chromium (world-executable). Cluster users without root
# use Playwright's own build instead: `python -m playwright install chromium` (no apt needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "ci_nonroot.sh: run as root (it creates the user and the mounts)" >&2; exit 2; }
USER_NAME="${VERM_CI_USER:-vermci}"
OTHER_NAME="${USER_NAME}_other"
for u in "$USER_NAME" "$OTHER_NAME"; do
  id -u "$u" >/dev/null 2>&1 || useradd --create-home --shell /usr/sbin/nologin "$u"
done
# A file another user left world-readable: a render by $USER_NAME must not see it.
OTHER_HOME="$(getent passwd "$OTHER_NAME" | cut -d: -f6)"
chmod 755 "$OTHER_HOME"
echo "OTHER_USER_DECOY_7f3a" >"$OTHER_HOME/notes.txt"
chmod 644 "$OTHER_HOME/notes.txt"

PY_PREFIX="$(.venv/bin/python -c 'import sys; print(sys.base_prefix)')"
PY_VER="$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
SITE="$(.venv/bin/python -c 'import os, sysconfig; print(os.path.realpath(sysconfig.get_paths()["purelib"]))')"
export VERM_TEST_PIXELS_FILE="${VERM_TEST_PIXELS_FILE:-}" REPO="$PWD" USER_NAME OTHER_HOME PY_PREFIX PY_VER SITE
RUN=(-m pytest -q -p no:cacheprovider)
if [ "${1:-}" = "--python" ]; then RUN=(); shift; fi
ARGS=("${RUN[@]}" "$@")
[ $# -gt 0 ] || ARGS+=(tests/render)

exec unshare --mount --propagation private -- bash -euo pipefail -c '
  BASE=/opt/verm-ci
  mkdir -p "$BASE"
  mount -t tmpfs -o mode=0755,size=512m tmpfs "$BASE"
  mkdir -p "$BASE/py" "$BASE/src"
  mount --bind "$PY_PREFIX" "$BASE/py" && mount -o remount,bind,ro "$BASE/py"
  export LD_LIBRARY_PATH="$BASE/py/lib"
  "$BASE/py/bin/python$PY_VER" -m venv --without-pip "$BASE/venv"
  VSITE="$BASE/venv/lib/python$PY_VER/site-packages"
  mount --bind "$SITE" "$VSITE" && mount -o remount,bind,ro "$VSITE"
  (cd "$REPO" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$BASE/src"
  chown -R "$USER_NAME:" "$BASE/src"
  USER_HOME="$(getent passwd "$USER_NAME" | cut -d: -f6)"
  echo "machine api.wandb.ai login user password NETRC_DECOY_51c2" >"$USER_HOME/.netrc"
  chown "$USER_NAME:" "$USER_HOME/.netrc"; chmod 600 "$USER_HOME/.netrc"
  cd "$BASE/src"
  exec runuser -u "$USER_NAME" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$USER_HOME" LANG=C.UTF-8 \
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH" PYTHONPATH="$BASE/src" WANDB_MODE=offline \
    VERM_TEST_PIXELS_FILE="${VERM_TEST_PIXELS_FILE:-}" VERM_TEST_OTHER_USER_FILE="$OTHER_HOME/notes.txt" VERM_TEST_OTHER_USER_TEXT=OTHER_USER_DECOY_7f3a \
    "$BASE/venv/bin/python" "$@"
' ci_nonroot "${ARGS[@]}"

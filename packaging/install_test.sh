#!/usr/bin/env bash
# Install test for the .deb, as root on this machine (no clean root or container is available
# here; see packaging/README.md): install, self-test offline from the installed location, open
# the window under Xvfb and take a screenshot, train a tiny adapter through the installed app's
# own training entry point (offline), uninstall, and check that nothing of the package is left
# while the user's data is.
# Usage: sudo packaging/install_test.sh [DEB] [OUT_DIR]   (defaults: dist/hearth_*_amd64.deb,
# build/install-test). Exit 0 when every step passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEB="${1:-$(ls "$ROOT"/dist/hearth_*_amd64.deb | tail -1)}"
OUT="${2:-$ROOT/build/install-test}"
DISPLAY_NUM="${DISPLAY_NUM:-:97}"
[[ $(id -u) == 0 ]] || { echo "error: run as root (dpkg -i)" >&2; exit 2; }
[[ -f "$DEB" ]] || { echo "error: no .deb at $DEB (run make package)" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"
# A user of the installed app: a home of its own, so no real user's folders are touched.
USER_HOME="$(mktemp -d /tmp/hearth-install-user.XXXXXX)"
XVFB_PID=""
cleanup() {
    [[ -n "$XVFB_PID" ]] && kill "$XVFB_PID" 2>/dev/null || true
    rm -rf "$USER_HOME"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# The installed app, started as a user would: from PATH, nothing of the checkout around.
user_env() { echo HOME="$USER_HOME" PATH=/usr/bin:/bin LANG=C.UTF-8 HEARTH_THREADS=1 \
    ${DISPLAY:+DISPLAY=$DISPLAY}; }
as_user() { (cd / && env -i $(user_env) "$@"); }
# ... and with no network at all: a network namespace of its own (only a down loopback).
if unshare --net true 2>/dev/null; then NONET=(unshare --net); else NONET=(); fi
offline_user() { (cd / && "${NONET[@]}" env -i $(user_env) "$@"); }

step "system libraries the package depends on"
if dpkg -s hearth >/dev/null 2>&1; then dpkg -r hearth >/dev/null; fi
mapfile -t wanted < <(grep -v '^#' "$ROOT/packaging/debian/depends" | sed '/^$/d')
pkgs=()
for line in "${wanted[@]}"; do
    for alt in ${line//|/ }; do
        name="${alt%% *}"
        [[ "$name" == "("* || "$name" == *")" ]] && continue
        if apt-cache show "$name" >/dev/null 2>&1; then pkgs+=("$name"); break; fi
    done
done
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" \
    >"$OUT/apt.log" 2>&1 || echo "(apt-get could not install every dependency: see apt.log)"

step "dpkg -i $(basename "$DEB")"
dpkg -i "$DEB" | tee "$OUT/dpkg-install.log"
dpkg -L hearth >"$OUT/package-files.txt"
echo "$(wc -l <"$OUT/package-files.txt") paths installed"
for path in /usr/bin/hearth /opt/hearth/hearth /usr/share/applications/hearth.desktop \
    /usr/share/icons/hicolor/scalable/apps/hearth.svg; do
    [[ -e "$path" ]] || fail "$path missing after install"
done
# Every library of the bundle resolves with the declared dependencies installed (the
# bootloader puts _internal on the library path, as here).
unresolved="$(find /opt/hearth -name '*.so*' -type f -print0 \
    | LD_LIBRARY_PATH=/opt/hearth/_internal xargs -0 ldd 2>/dev/null \
    | grep 'not found' | sort -u || true)"
[[ -z "$unresolved" ]] || fail "libraries not found after install: $unresolved"
echo "every library of the bundle resolves"

step "hearth --self-test (installed, no network)"
echo "network: ${NONET[*]:-(unshare unavailable: network left on)}"
offline_user hearth --self-test >"$OUT/self-test.log" 2>&1 || { cat "$OUT/self-test.log"; fail "self-test"; }
cat "$OUT/self-test.log"

step "user data written by the installed app (checked after uninstalling)"
# `hearth doctor` opens the database and puts the default model in place, as a first launch does.
offline_user hearth doctor >"$OUT/doctor.log" 2>&1 || { cat "$OUT/doctor.log"; echo "(doctor: some checks failed)"; }
DATA="$USER_HOME/.local/share/Hearth"
[[ -f "$DATA/hearth.db" ]] || fail "no database at $DATA"
(cd "$USER_HOME" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$OUT/user-data.sha256"
echo "$(wc -l <"$OUT/user-data.sha256") user files under $USER_HOME"

step "window under Xvfb"
Xvfb "$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$OUT/xvfb.log" 2>&1 &
XVFB_PID=$!
sleep 1
export DISPLAY="$DISPLAY_NUM"
start=$(date +%s%N)
as_user hearth >"$OUT/window.log" 2>&1 &
APP_PID=$!
visible=""
for _ in $(seq 1 300); do
    if xwininfo -display "$DISPLAY" -name Hearth 2>/dev/null | grep -q IsViewable; then
        visible=$(( ($(date +%s%N) - start) / 1000000 ))
        break
    fi
    sleep 0.05
done
[[ -n "$visible" ]] || { cat "$OUT/window.log"; fail "no Hearth window within 15 s"; }
echo "window visible after ${visible} ms"
sleep 8 # the model loads in the background: the screenshot shows the window once it is ready
import -display "$DISPLAY" -window root "$OUT/window.png"
kill "$APP_PID" 2>/dev/null || true
wait "$APP_PID" 2>/dev/null || true
unset DISPLAY
echo "screenshot: $OUT/window.png"

step "tiny adapter through the installed app's training entry point (no network)"
JOB="$USER_HOME/train-job"
mkdir -p "$JOB"
MODEL="$(ls "$DATA"/models/*.gguf | head -1)"
python3 - "$JOB" "$MODEL" <<'EOF'
import json, sys
job, model = sys.argv[1], sys.argv[2]
pairs = [
    ("What is the capital of France?", "Paris."),
    ("How many legs does a spider have?", "Eight."),
    ("What colour is the sky on a clear day?", "Blue."),
    ("What is two plus two?", "Four."),
    ("Name a primary colour.", "Red."),
]
ex = [{"prompt": p, "target": t, "feedback_id": None} for p, t in pairs]
spec = {
    "name": "install-test",
    "base_model": model,
    "out_dir": job,
    "split": {"train": ex[:4], "held": ex[4:], "statements": []},
    "system": None,
    "options": {"steps": 2, "rank": 4, "alpha": 8.0, "lr": 2e-4, "batch_size": 2, "threads": 1,
                "seed": 0, "max_len": 64, "held_fraction": 0.2, "parity_prompts": 1,
                "guard_every": 0, "guard_max": 1.04, "permute": True, "pause_while_busy": False,
                "keep_arrays": False},
}
open(f"{job}/spec.json", "w").write(json.dumps(spec))
EOF
offline_user hearth --train-job "$JOB/spec.json" >"$OUT/train-job.log" 2>"$OUT/train-job.err" \
    || { tail -5 "$OUT/train-job.err"; fail "training entry point"; }
grep -q '"event": "done"' "$OUT/train-job.log" || fail "training reported no result"
[[ -s "$JOB/adapter.gguf" ]] || fail "no adapter written"
grep -o '"event": "[a-z]*"' "$OUT/train-job.log" | sort | uniq -c | tr '\n' ' '
echo
echo "adapter: $(stat -c %s "$JOB/adapter.gguf") bytes; $(grep -o '"parity_passed": [a-z]*' "$OUT/train-job.log")"
rm -rf "$JOB"

step "dpkg -r hearth"
dpkg -r hearth | tee "$OUT/dpkg-remove.log"
if dpkg -s hearth 2>/dev/null | grep -q '^Status: install'; then fail "package still installed"; fi
left=""
while read -r path; do
    [[ "$path" == /. || -d "$path" && ! -L "$path" ]] && continue # shared folders stay
    [[ -e "$path" || -L "$path" ]] && left+="$path "
done <"$OUT/package-files.txt"
[[ ! -e /opt/hearth ]] || left+="/opt/hearth "
[[ -z "$left" ]] || fail "left behind: $left"
echo "nothing of the package is left"
(cd "$USER_HOME" && sha256sum --quiet -c "$OUT/user-data.sha256") || fail "user data changed"
echo "user data kept: $(wc -l <"$OUT/user-data.sha256") files unchanged"
echo
echo "install test passed"

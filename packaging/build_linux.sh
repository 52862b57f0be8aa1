#!/usr/bin/env bash
# Build Hearth's Linux installers from a set-up checkout (`make setup`):
#   dist/hearth/                          the one-folder bundle (PyInstaller, packaging/hearth.spec)
#   dist/hearth-VERSION-linux-x86_64.tar.gz   the bundle, to unpack anywhere
#   dist/hearth_VERSION_amd64.deb         /opt/hearth, /usr/bin/hearth, menu entry, icon
# Usage: packaging/build_linux.sh [--skip-bundle]   (--skip-bundle: reuse dist/hearth)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
VERSION="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"
DIST="$ROOT/dist"
BUNDLE="$DIST/hearth"
STAGE="$ROOT/build/deb/hearth_${VERSION}_amd64"
DEB="$DIST/hearth_${VERSION}_amd64.deb"
TARBALL="$DIST/hearth-${VERSION}-linux-x86_64.tar.gz"

say() { printf '== %s\n' "$*"; }

if [[ "${1:-}" != "--skip-bundle" ]]; then
    say "bundle (PyInstaller, one folder)"
    # The llama.cpp libraries must be the portable build: a bundle built for this CPU is not an
    # installer.
    "$PY" - <<'EOF'
import sys
from app.llm import backend
found = backend.variant_files()
if len(found) < 2:
    sys.exit("llama.cpp here has no CPU variants: run `make setup` (portable build) first")
print(f"llama.cpp CPU variants: {', '.join(sorted(found))}")
EOF
    "$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$DIST" \
        --workpath "$ROOT/build/pyinstaller" packaging/hearth.spec
fi
test -x "$BUNDLE/hearth" || { echo "no bundle at $BUNDLE" >&2; exit 1; }
ls "$BUNDLE"/_internal/llama_cpp/lib/libggml-cpu-*.so >/dev/null

say "tarball"
rm -f "$TARBALL"
if command -v pigz >/dev/null; then GZ=(pigz -6); else GZ=(gzip -6); fi
tar -C "$DIST" -cf - hearth | "${GZ[@]}" >"$TARBALL"

say "deb"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/icons/hicolor/scalable/apps" "$STAGE/usr/share/icons/hicolor/256x256/apps" \
    "$STAGE/usr/share/doc/hearth"
cp -a "$BUNDLE" "$STAGE/opt/hearth"
# The bootloader finds _internal/ from its own resolved path, so a link is enough.
ln -s /opt/hearth/hearth "$STAGE/usr/bin/hearth"
install -m 644 resources/hearth.desktop "$STAGE/usr/share/applications/hearth.desktop"
install -m 644 resources/icons/hearth.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/hearth.svg"
install -m 644 resources/icons/hearth-256.png "$STAGE/usr/share/icons/hicolor/256x256/apps/hearth.png"
cat >"$STAGE/usr/share/doc/hearth/copyright" <<'EOF'
Hearth is licensed under the Apache License 2.0. The bundle carries third-party software under
its own licences: Python (PSF), Qt/PySide6 (LGPLv3), llama.cpp (MIT), PyTorch (BSD-3-Clause),
transformers, peft, sentence-transformers (Apache-2.0), SmolLM2-135M-Instruct (Apache-2.0),
all-MiniLM-L6-v2 (Apache-2.0). On Debian systems the licences are in /usr/share/common-licenses.
EOF
install -m 755 packaging/debian/postinst packaging/debian/postrm "$STAGE/DEBIAN/"
depends="$(grep -v '^#' packaging/debian/depends | sed '/^$/d' | paste -sd, | sed 's/,/, /g')"
installed_kb="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_KB@/$installed_kb/" -e "s/@DEPENDS@/$depends/" \
    packaging/debian/control.in >"$STAGE/DEBIAN/control"
# Files 644 and folders 755 for every user; the executables keep their bit.
find "$STAGE/opt" -type d -exec chmod 755 {} +
find "$STAGE/opt" -type f -exec chmod go+r,go-w {} +
rm -f "$DEB"
# xz (the smallest .deb; about 10 CPU minutes for this bundle); DEB_COMPRESS=zstd for speed.
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$STAGE" "$DEB" >/dev/null
rm -rf "$STAGE"

say "sizes"
du -sm "$BUNDLE" | awk '{print "bundle  " $1 " MB"}'
du -m "$TARBALL" "$DEB" | awk '{print $1 " MB  " $2}'

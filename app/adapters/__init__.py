"""Personal LoRA adapters: feedback, training, export, verification, versions and merging.

Nothing here imports torch, transformers or llama_cpp at module level; the heavy work runs in a
separate training process (`app.adapters.train_job`).
"""

"""The start of the next turn, evaluated as soon as an answer ends.

Whatever the user writes next, the prompt will continue the cached conversation with the
same few tokens: the end of the answer (the end-of-turn marker, which generation stops at
without evaluating) and the header of a user message ("<|im_end|>\\n<|im_start|>user\\n" in
ChatML). Evaluating them while the user reads the answer, instead of after they send, leaves
a follow-up only its own words and the assistant's header to evaluate, as in a conversation's
first turn (where the system prompt and the user header are cached already). Measured on the
default model at one thread 1,300 tokens into a conversation: 5 of a follow-up's ~20 prompt
tokens, ~35 ms of its ~170 ms to the first token, moved to after the last word is shown.

The tokens are found without knowing the template: the conversation is rendered with the
answer and two different user messages, and the tokens both renderings share past the cache
are the ones any next message follows. If the next message still tokenizes differently,
llama-cpp-python keeps only the matching prefix of its cache: the cost is those few tokens,
never a wrong answer.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# Two user messages that share nothing; their renderings agree up to the user's text.
_PROBES = ("A", "1")
# More than this means the cache no longer holds the answer as rendered (a template that
# rewrites earlier turns): evaluating it now would only move a whole re-evaluation earlier.
_MAX_TOKENS = 32


def formatter_for(llama: Any) -> Any | None:
    """The chat template llama-cpp-python formats this model's prompts with, or None when it
    uses anything other than the model's own template (no safe way to render it here)."""
    if getattr(llama, "chat_handler", None) is not None:
        return None
    if getattr(llama, "chat_format", None) != "chat_template.default":
        return None
    try:
        from llama_cpp import llama_chat_format

        template = llama.metadata["tokenizer.chat_template"]
        # the same tokens llama-cpp-python hands its formatter (Llama.__init__)
        eos_id, bos_id = llama.token_eos(), llama.token_bos()
        eos = llama._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = llama._model.token_get_text(bos_id) if bos_id != -1 else ""
        return llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id]
        )
    except Exception:  # an older or newer llama-cpp-python: the optimisation is off, no more
        log.debug("no chat formatter for the next turn", exc_info=True)
        return None


def prepare(llama: Any, formatter: Any, messages: list[dict[str, str]], reply: str) -> int:
    """Evaluate the tokens that will follow `reply` in the next prompt; how many were."""
    try:
        tokens = [_render(llama, formatter, messages, reply, probe) for probe in _PROBES]
    except Exception:  # a template that refuses the shape (it would refuse the real turn too)
        log.debug("could not render the next turn", exc_info=True)
        return 0
    shared = _common(tokens[0], tokens[1])
    cached = int(llama.n_tokens)
    start = _common(list(llama.input_ids[:cached]), tokens[0][:shared])
    new = tokens[0][start:shared]
    if not new or len(new) > _MAX_TOKENS or start + len(new) >= llama.n_ctx():
        return 0
    llama.n_tokens = start  # the cache past `start` (if any) differs from the rendering
    try:
        llama.eval(new)
    except Exception:  # the answer is whole already: the next turn evaluates them instead
        log.warning("could not prepare the next turn", exc_info=True)
        return 0
    return len(new)


def _render(
    llama: Any, formatter: Any, messages: list[dict[str, str]], reply: str, probe: str
) -> list[int]:
    convo = [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": probe}]
    prompt = formatter(messages=convo).prompt
    # as llama-cpp-python tokenizes a formatted chat prompt (the formatter adds the specials)
    return list(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n

"""Preference feedback in SQLite: ratings, the user's edits of answers, and stated preferences.

`FeedbackStore` is the only code that writes the `feedback` table; the privacy dashboard lists
and deletes through it. `import_jsonl` reads the CLI's format, one object per line:
`{"prompt": ..., "response": ..., "correction": OPTIONAL, "rating": OPTIONAL +1/-1}`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.errors import HearthError
from app.jsonl import read_jsonl
from app.store.database import Store


@dataclass(frozen=True)
class Feedback:
    id: int
    kind: str  # 'rating', 'edit' or 'statement'
    prompt: str
    response: str
    correction: str | None
    rating: int | None
    statement: str | None
    source_message_id: int | None
    created_at: str

    def target(self) -> str | None:
        """The preferred answer this example teaches, or None when it teaches none."""
        if self.correction:
            return self.correction
        if self.rating == 1 and self.response:
            return self.response
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row(row: Any) -> Feedback:
    return Feedback(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - sqlite3.Row


class FeedbackStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        prompt: str,
        response: str,
        *,
        correction: str | None = None,
        rating: int | None = None,
        source_message_id: int | None = None,
    ) -> int:
        """Store a rated or edited answer; an edit is a correction (the preferred target)."""
        if rating not in (None, 1, -1):
            raise HearthError(f"a rating is +1 or -1, not {rating!r}")
        correction = correction.strip() if correction and correction.strip() else None
        if correction is None and rating is None:
            raise HearthError("feedback needs a correction or a rating")
        if not prompt.strip():
            raise HearthError("feedback needs the prompt it answers")
        kind = "edit" if correction is not None else "rating"
        return self.store.execute(
            "INSERT INTO feedback (kind, prompt, response, correction, rating, source_message_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (kind, prompt, response, correction, rating, source_message_id),
        )

    def add_statement(self, text: str, *, source_message_id: int | None = None) -> int:
        """An explicit preference ("keep answers short")."""
        if not text.strip():
            raise HearthError("a preference statement cannot be empty")
        return self.store.execute(
            "INSERT INTO feedback (kind, statement, source_message_id) VALUES ('statement', ?, ?)",
            (text.strip(), source_message_id),
        )

    def update_statement(self, feedback_id: int, text: str) -> None:
        """The user rewrote a stated preference."""
        if not text.strip():
            raise HearthError("a preference statement cannot be empty")
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE feedback SET statement = ? WHERE id = ? AND kind = 'statement'",
                (text.strip(), feedback_id),
            )
            if cur.rowcount == 0:
                raise HearthError(f"no preference statement with id {feedback_id}")

    def rate_message(self, assistant_message_id: int, rating: int) -> int:
        """Thumbs up/down on a stored answer; the prompt is the user turn before it."""
        return self._from_message(assistant_message_id, rating=rating)

    def edit_message(self, assistant_message_id: int, correction: str) -> int:
        """The user rewrote a stored answer: the rewrite is the preferred target."""
        return self._from_message(assistant_message_id, correction=correction)

    def _from_message(
        self, message_id: int, *, rating: int | None = None, correction: str | None = None
    ) -> int:
        answer = self.store.query_one(
            "SELECT id, conversation_id, content, parent_id FROM messages "
            "WHERE id = ? AND role = 'assistant'",
            (message_id,),
        )
        if answer is None:
            raise HearthError(f"no answer with id {message_id}")
        # The question it answers is its parent: with regenerated answers and edited questions
        # the newest question before it may be another branch's.
        question = self.store.query_one(
            "SELECT content FROM messages WHERE id = ? AND role = 'user'", (answer["parent_id"],)
        )
        if question is None:  # stored before branches, or its question was deleted
            question = self.store.query_one(
                "SELECT content FROM messages WHERE conversation_id = ? AND id < ? "
                "AND role = 'user' ORDER BY id DESC LIMIT 1",
                (answer["conversation_id"], message_id),
            )
        if question is None:
            raise HearthError(f"answer {message_id} has no question before it")
        return self.add(
            question["content"],
            answer["content"],
            correction=correction,
            rating=rating,
            source_message_id=message_id,
        )

    def list(self, kind: str | None = None) -> list[Feedback]:
        if kind is None:
            rows = self.store.query("SELECT * FROM feedback ORDER BY id")
        else:
            rows = self.store.query("SELECT * FROM feedback WHERE kind = ? ORDER BY id", (kind,))
        return [_row(r) for r in rows]

    def get(self, feedback_id: int) -> Feedback | None:
        row = self.store.query_one("SELECT * FROM feedback WHERE id = ?", (feedback_id,))
        return None if row is None else _row(row)

    def count(self) -> int:
        return int(self.store.scalar("SELECT COUNT(*) FROM feedback") or 0)

    def count_trainable(self) -> int:
        return sum(1 for f in self.list() if f.target() is not None)

    def delete(self, feedback_id: int) -> bool:
        with self.store.transaction() as conn:
            cur = conn.execute("DELETE FROM feedback WHERE id = ?", (feedback_id,))
            return cur.rowcount > 0

    def delete_all(self) -> int:
        with self.store.transaction() as conn:
            return int(conn.execute("DELETE FROM feedback").rowcount)

    def import_jsonl(self, path: Path) -> int:
        """Import every line or none: a bad line stops the import with its line number."""
        name = Path(path).name
        items = [_parse_line(obj, number, name) for number, obj in read_jsonl(path)]
        with self.store.transaction() as conn:
            for prompt, response, correction, rating in items:
                kind = "edit" if correction else "rating"
                conn.execute(
                    "INSERT INTO feedback (kind, prompt, response, correction, rating)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (kind, prompt, response, correction, rating),
                )
        return len(items)


def _parse_line(
    obj: dict[str, Any], number: int, name: str
) -> tuple[str, str, str | None, int | None]:
    prompt, response = obj.get("prompt"), obj.get("response")
    correction, rating = obj.get("correction"), obj.get("rating")
    if not isinstance(prompt, str) or not prompt.strip():
        raise HearthError(f"{name}, line {number}: 'prompt' must be a non-empty string")
    if not isinstance(response, str):
        raise HearthError(f"{name}, line {number}: 'response' must be a string")
    if correction is not None and not isinstance(correction, str):
        raise HearthError(f"{name}, line {number}: 'correction' must be a string")
    if rating is not None and (isinstance(rating, bool) or rating not in (1, -1)):
        raise HearthError(f"{name}, line {number}: 'rating' must be +1 or -1")
    correction = correction.strip() if correction and correction.strip() else None
    if correction is None and rating is None:
        raise HearthError(f"{name}, line {number}: needs a 'correction' or a 'rating'")
    return prompt, response, correction, rating

"""Hearth's main window: conversations on the left, the chat and its input on the right.

The window owns a `Session` (the core, opened in the background) and at most one reply worker.
Everything that may wait runs on the session's pool; results come back by signal.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QVBoxLayout, QWidget

from app.cancel import CancelToken
from app.ui import feedback_bridge, window_state
from app.ui.chat_view import ChatView
from app.ui.composer import Composer
from app.ui.generation import GenerationWorker, Throughput
from app.ui.history import Entry, figures, load_history, memory_refs
from app.ui.menus import build_menus, choose_model_file, open_tool_page, show_model_error
from app.ui.message_widget import AssistantMessage
from app.ui.notice import LearningNotices, MemoryNotices, NoticeBar
from app.ui.search_dialog import SearchDialog
from app.ui.session import Session
from app.ui.settings_dialog import SettingsDialog
from app.ui.sidebar import Sidebar
from app.ui.status import StatusBar
from app.ui.tasks import Tasks
from app.ui.themes import apply_theme, when_changed

log = logging.getLogger(__name__)
HISTORY_BATCH = 12
RECENT_MESSAGES = 40  # shown when a conversation opens; older ones on scrolling up
UNDO_DELETE_MS = 8000


class MainWindow(QMainWindow):
    def __init__(self, open_core: bool = True) -> None:
        super().__init__()
        from app.memory.embedder import sequential_loading

        sequential_loading()  # on this (main) thread, before the core's loaders start
        self.setObjectName("mainWindow")
        self.setWindowTitle("Hearth")
        self.resize(1120, 760)
        self.tasks = Tasks(self)
        self.session = Session(self.tasks, self)
        self.conversation_id: int | None = None
        self.worker: GenerationWorker | None = None
        self.live: AssistantMessage | None = None
        self.live_user: QWidget | None = None
        self.live_text = ""
        # deleted, still undoable: each with the timer that ends its undo window, stopped on
        # undo so that an earlier delete of the same conversation cannot fire later on
        self.pending_deletes: dict[int, QTimer] = {}
        self._entries: list[Entry] = []  # the open conversation, as loaded
        self._shown_from = 0  # index of the oldest of them in the view
        self._loading_earlier = False
        self._reload_after_reply = ""  # a failed regenerate/edit: its message, then reload
        self.throughput = Throughput()
        self.tool_pages: dict[str, QWidget] = {}
        self._closed = False
        self._view_generation = 0  # bumped whenever the view starts showing something else

        self.sidebar = Sidebar(self)
        self.chat = ChatView(self)
        self.composer = Composer(self)
        right = QWidget(self)
        right.setObjectName("chatPane")
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.chat, 1)
        self.notice = NoticeBar(right)
        column.addWidget(self.notice, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addWidget(self.composer)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("splitter")
        splitter.addWidget(self.sidebar)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 860])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self.splitter = splitter
        window_state.restore(self, splitter)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        build_menus(self)
        self._build_chat_menu()
        self.search_dialog: SearchDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self._scroll_to: int | None = None  # a message to show once its conversation is in

        self.sidebar.selected.connect(self.open_conversation)
        self.sidebar.new_requested.connect(self.new_conversation)
        self.sidebar.rename_requested.connect(self.rename_conversation)
        self.sidebar.delete_requested.connect(self.delete_conversation)
        self.composer.send.connect(self.send)
        self.composer.stop.connect(self.stop_generation)
        self.chat.rated.connect(self.rate_answer)
        self.chat.edited.connect(self.edit_answer)
        self.chat.link_clicked.connect(self.follow_link)
        when_changed(self._rethemed)
        self.chat.regenerate.connect(self.regenerate_answer)
        self.chat.resend.connect(self.resend_question)
        self.chat.version_step.connect(self.show_version)
        self.chat.earlier_requested.connect(self.load_earlier)
        self.chat.suggested.connect(self.composer.suggest)
        self.session.core_ready.connect(self._core_ready)
        self.memory_notices = MemoryNotices(self.notice, self.tasks, self.status.showMessage)
        self.learning_notices = LearningNotices(self.notice, self.status)
        self.status.learning.clicked.connect(lambda: open_tool_page(self, "personalization"))
        self.session.model_state.connect(self._model_state)
        self.composer.input.setFocus()
        if open_core:
            self.session.open()

    def _build_chat_menu(self) -> None:
        """Chat actions with their shortcuts; window-wide, so they work from the message box."""
        menu = getattr(self, "chat_menu", None) or self.menuBar().addMenu("&Chat")
        menu.addSeparator()
        find = menu.addAction("Search conversations…", self.open_search)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.find_action = find
        settings = menu.addAction("Settings…", self.open_settings)
        settings.setShortcut(QKeySequence("Ctrl+,"))
        settings.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        settings.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action = settings

    def open_settings(self) -> None:
        core = self.session.core
        if core is None:
            self.status.showMessage("Settings open once Hearth has started", 4000)
            return
        if self.settings_dialog is None:
            self.settings_dialog = SettingsDialog(self)
            self.settings_dialog.saved.connect(self._settings_saved)
        self.settings_dialog.open_for(core)

    def _settings_saved(self, changed: list[str]) -> None:
        core = self.session.core
        if "theme" in changed and core is not None:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                apply_theme(app, core.settings.theme)  # a change of colours calls _rethemed
        self.status.showMessage("Settings saved" if changed else "No settings changed", 4000)

    def _rethemed(self, _shown: str) -> None:
        # Code blocks take their colours when drawn: the open conversation is drawn again,
        # whether Settings or the desktop's own light/dark switch changed the theme.
        if self.conversation_id is not None and not self.generating:
            self.open_conversation(self.conversation_id, reload=True)

    def open_search(self) -> None:
        if self.search_dialog is None:
            self.search_dialog = SearchDialog(self)
            self.search_dialog.opened.connect(self.open_message)
        self.search_dialog.show_search()

    def open_message(self, conversation_id: int, message_id: int) -> None:
        """Open a conversation on the branch holding this message, scrolled to it."""
        core = self.session.core
        if core is None:
            return
        self.stop_generation()

        def shown() -> None:
            self._scroll_to = message_id
            self.open_conversation(conversation_id, reload=True)

        self.tasks.run(lambda: core.conversations.switch_to(message_id), lambda _r: shown())

    def _core_ready(self, core: Any) -> None:
        self.refresh_conversations()
        self.memory_notices.attach(core)
        # Training and merging belong to the core: the status bar follows them, typing tells
        # automatic training the user is here, and feedback gathered earlier may be due.
        self.learning_notices.attach(core)
        self.composer.input.textChanged.connect(core.learning.auto.note_activity)
        core.learning.auto.poke()
        from app.ui.engines_page import engine_label

        self.status.set_engine(engine_label(core))

    # -- conversations ---------------------------------------------------------------------
    def refresh_conversations(self) -> None:
        core = self.session.core
        if core is None:
            return
        self.tasks.run(core.conversations.list, self._show_conversations)

    def _show_conversations(self, conversations: list[Any]) -> None:
        shown = [c for c in conversations if c.id not in self.pending_deletes]
        self.sidebar.set_conversations(shown, self.conversation_id)

    def new_conversation(self) -> None:
        self._leave_conversation()
        self.conversation_id = None
        self._view_generation += 1
        self._entries, self._shown_from = [], 0
        self.chat.clear()
        self.sidebar.list.setCurrentRow(-1)
        self.composer.input.setFocus()

    def open_conversation(self, conversation_id: int | None, reload: bool = False) -> None:
        core = self.session.core
        if conversation_id is None or core is None:
            return
        if conversation_id == self.conversation_id and not reload:
            return
        self._leave_conversation()
        self.conversation_id = conversation_id
        self._view_generation += 1
        self.chat.clear()
        self.tasks.run(
            lambda: (
                conversation_id,
                load_history(core, conversation_id),
                core.assistant.history(conversation_id)[1],
            ),
            self._show_history,
        )

    def _show_history(self, result: tuple[int, list[Entry], int | None]) -> None:
        conversation_id, entries, context_start = result
        if conversation_id != self.conversation_id:
            return  # the user moved on while it loaded
        self.sidebar.select(conversation_id)
        self.chat.mark_context_start(context_start)
        # A long conversation opens on its newest messages (and the one a search asked for);
        # the older ones come when the user scrolls up.
        first = max(0, len(entries) - RECENT_MESSAGES)
        ids = [e.message_id for e in entries]
        if self._scroll_to in ids:
            first = min(first, ids.index(self._scroll_to))
        self._entries, self._shown_from = entries, first
        self.chat.set_earlier(first)
        self._feed(self._view_generation, entries[first:], 0)

    def load_earlier(self) -> None:
        """Put the next older messages above the ones shown, a batch per event-loop turn."""
        if self._shown_from <= 0 or self._loading_earlier:
            return
        start = max(0, self._shown_from - RECENT_MESSAGES)
        older = self._entries[start : self._shown_from]
        self._shown_from = start
        self._loading_earlier = True
        generation = self._view_generation

        def prepend(batch_end: int) -> None:
            if generation != self._view_generation or self._closed:
                self._loading_earlier = False
                return
            for entry in reversed(older[max(0, batch_end - HISTORY_BATCH) : batch_end]):
                self._add_entry(entry, at_top=True)
            if batch_end > HISTORY_BATCH:
                QTimer.singleShot(0, lambda: prepend(batch_end - HISTORY_BATCH))
            else:
                self.chat.set_earlier(start)
                self._loading_earlier = False
                self._refresh_versions()

        prepend(len(older))

    def _add_entry(self, entry: Entry, at_top: bool = False) -> None:
        if entry.role == "user":
            self.chat.add_user(entry.text, entry.message_id, at_top=at_top)
        else:
            self.chat.add_stored_answer(
                entry.message_id,
                entry.text,
                entry.figures,
                entry.memories,
                entry.rating,
                at_top=at_top,
            )

    def _feed(self, generation: int, entries: list[Entry], start: int) -> None:
        """Build message widgets a batch per event-loop turn: long chats never freeze the GUI."""
        if generation != self._view_generation or self._closed:
            return
        for entry in entries[start : start + HISTORY_BATCH]:
            self._add_entry(entry)
        if start + HISTORY_BATCH < len(entries):
            nxt = start + HISTORY_BATCH
            QTimer.singleShot(0, lambda: self._feed(generation, entries, nxt))
        else:
            self._refresh_versions()
            if self._scroll_to is not None:
                target, self._scroll_to = self._scroll_to, None
                QTimer.singleShot(0, lambda: self.chat.show_message(target))

    def _refresh_versions(self) -> None:
        core, conv = self.session.core, self.conversation_id
        if core is None or conv is None:
            return
        generation = self._view_generation

        def show(branches: dict[int, list[int]]) -> None:
            if generation == self._view_generation:
                self.chat.set_versions(branches)

        self.tasks.run(lambda: core.conversations.branches(conv), show)

    def show_version(self, message_id: int, step: int) -> None:
        """Step to the previous or next version of a message ("‹ 1/2 ›")."""
        core, conv = self.session.core, self.conversation_id
        if core is None or conv is None or self.worker is not None:
            return

        def switch() -> None:
            versions = core.conversations.siblings(message_id)
            index = versions.index(message_id) + step if message_id in versions else -1
            if 0 <= index < len(versions):
                core.conversations.switch_to(versions[index])

        self.tasks.run(switch, lambda _r: self.open_conversation(conv, reload=True))

    def _leave_conversation(self) -> None:
        """A reply still streaming into the view being left is stopped (it is saved as is)."""
        self.stop_generation()
        self.live = None

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        core = self.session.core
        if core is not None:
            self.tasks.run(
                lambda: core.conversations.rename(conversation_id, title),
                lambda _r: self.refresh_conversations(),
            )

    def delete_conversation(self, conversation_id: int) -> None:
        """Hide the conversation at once and delete it after a while, unless undone."""
        core = self.session.core
        if core is None:
            return
        if conversation_id == self.conversation_id:
            self.new_conversation()
        self._cancel_delete(conversation_id)
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setTimerType(Qt.TimerType.PreciseTimer)  # never before the undo window is over
        timer.timeout.connect(lambda: self._delete_now(conversation_id))
        self.pending_deletes[conversation_id] = timer
        timer.start(UNDO_DELETE_MS)
        self.refresh_conversations()
        self.notice.show_message(
            "Conversation deleted", undo=lambda: self._undo_delete(conversation_id), seconds=8
        )

    def _cancel_delete(self, conversation_id: int) -> bool:
        """Forget a pending delete and stop its timer; False if none was pending."""
        timer = self.pending_deletes.pop(conversation_id, None)
        if timer is None:
            return False
        timer.stop()
        timer.deleteLater()
        return True

    def _undo_delete(self, conversation_id: int) -> None:
        self._cancel_delete(conversation_id)
        self.notice.hide()
        self.refresh_conversations()

    def _delete_now(self, conversation_id: int) -> None:
        core = self.session.core
        if core is None or not self._cancel_delete(conversation_id):
            return
        self.tasks.run(
            lambda: core.conversations.delete(conversation_id),
            lambda _r: self.refresh_conversations(),
        )

    # -- a reply ---------------------------------------------------------------------------
    def regenerate_answer(self, message_id: int) -> None:
        """A new version of this answer; the old one stays a click away ("‹ 1/2 ›")."""
        widget = self.chat.widget_for(message_id)
        if self.worker is not None or widget is None:
            return
        self.chat.remove_from(widget)
        self._start_reply("", show_user=False, regenerate_id=message_id)

    def resend_question(self, message_id: int, text: str) -> None:
        """Send an edited question in place of this one; the original stays as a version."""
        widget = self.chat.widget_for(message_id)
        if self.worker is not None or widget is None:
            return
        self.chat.remove_from(widget)
        self._start_reply(text, edit_id=message_id)

    def send(self, text: str) -> None:
        self._start_reply(text)

    def _start_reply(
        self,
        text: str,
        *,
        show_user: bool = True,
        regenerate_id: int | None = None,
        edit_id: int | None = None,
    ) -> None:
        if self.worker is not None:
            return
        self.live_user = self.chat.add_user(text) if show_user else None
        self.live_text = text
        self.live = self.chat.add_assistant()
        if not self.session.ready:
            self.live.set_waiting("Waiting for the model to load…")
        else:
            self.live.set_waiting("Thinking…")
        worker = GenerationWorker(
            self.session.wait_core,
            self.conversation_id,
            text,
            CancelToken(),
            regenerate_id=regenerate_id,
            edit_id=edit_id,
        )
        sig = worker.signals
        sig.conversation.connect(self._reply_conversation)
        sig.started.connect(lambda: self.live and self.live.set_waiting("Thinking…"))
        sig.recalled.connect(self._reply_recalled)
        sig.token.connect(self._reply_token)
        sig.done.connect(self._reply_done)
        sig.failed.connect(self._reply_failed)
        sig.finished.connect(self._reply_finished)
        self.worker = worker
        self.throughput = Throughput()
        self.composer.set_generating(True)
        self.tasks.start(worker)

    def stop_generation(self) -> None:
        if self.worker is not None:
            self.worker.cancel.cancel()

    @property
    def generating(self) -> bool:
        return self.worker is not None

    def _reply_conversation(self, conversation_id: int) -> None:
        if self.conversation_id is None and self.live is not None:
            self.conversation_id = conversation_id
            self.refresh_conversations()

    def _reply_recalled(self, memories: list[Any]) -> None:
        if self.live is not None:
            self.live.set_memories(memory_refs(memories))

    def _reply_token(self, text: str) -> None:
        self.throughput.tick()
        if self.live is not None:
            self.live.append(text)
        self.status.set_speed(self.throughput.rate, live=True)

    def _reply_done(self, done: Any) -> None:
        self.status.set_speed(done.tok_s)
        if self.live is not None:
            if self.live_user is not None:
                self.chat.set_message_id(self.live_user, done.user_message_id)
            if done.assistant_message_id is not None:
                self.chat.set_message_id(self.live, done.assistant_message_id)
            self.chat.mark_context_start(done.context_start)
            model = self.session.model_name
            self.live.finish(
                done.assistant_message_id,
                figures=figures(model, done.tokens, done.tok_s, done.cancelled),
            )

    def _reply_failed(self, message: str) -> None:
        worker = self.worker
        if worker is not None and (worker.regenerate_id or worker.edit_id):
            # the view dropped messages the store still has: show them again, and say why
            self._reload_after_reply = message
        if self.live is not None:
            self.live.show_error(message)
            if self.live_text and not self.composer.input.toPlainText().strip():
                # Nothing was kept of a failed turn: the text goes back for another try.
                self.composer.suggest(self.live_text)
        from app.ui.engines_page import offer_fallback

        offer_fallback(self, message)  # a server of the user's own failed: retry or go local

    def _reply_finished(self) -> None:
        self.worker = None
        self.live = None
        self.composer.set_generating(False)
        self.refresh_conversations()
        self._refresh_versions()
        if self._reload_after_reply:
            self.status.showMessage(self._reload_after_reply, 10_000)
            self._reload_after_reply = ""
            self.open_conversation(self.conversation_id, reload=True)

    # -- feedback --------------------------------------------------------------------------
    def rate_answer(self, message_id: int, rating: int) -> None:
        core = self.session.core
        if core is not None:
            self.tasks.run(
                lambda: feedback_bridge.rate(core, message_id, rating),
                lambda _r: self._feedback_saved("Thanks — feedback saved", 3000),
                self._feedback_failed,
            )

    def edit_answer(self, message_id: int, text: str) -> None:
        core = self.session.core
        if core is not None:
            self.tasks.run(
                lambda: feedback_bridge.edit(core, message_id, text),
                lambda _r: self._feedback_saved("Your edit was saved as a preference", 4000),
                self._feedback_failed,
            )

    def _feedback_saved(self, text: str, ms: int) -> None:
        self.status.showMessage(text, ms)
        core = self.session.core
        if core is not None:
            core.learning.auto.poke()  # enough new feedback may now be due for training

    def _feedback_failed(self, exc: BaseException) -> None:
        self.status.showMessage(f"Could not save feedback: {exc}", 6000)

    def follow_link(self, url: str) -> None:
        prefix = "hearth://conversation/"
        if url.startswith(prefix) and url[len(prefix) :].isdigit():
            self.open_conversation(int(url[len(prefix) :]))

    # -- models ----------------------------------------------------------------------------
    def add_model(self) -> None:
        path = choose_model_file(self)
        if path is not None:
            self.session.switch_model(path, lambda msg: show_model_error(self, msg))

    def use_model(self, record_id: int) -> None:
        self.session.switch_model(record_id, lambda msg: show_model_error(self, msg))

    def _model_state(self, state: str, text: str) -> None:
        self.status.set_model_state(state, self.session.model_name, text)

    # -- closing ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the reply, wait for every background task, close the core. Idempotent."""
        if self._closed:
            return
        self._closed = True
        window_state.save(self, self.splitter)
        self.stop_generation()
        core = self.session.core
        for conversation_id in list(self.pending_deletes):
            self._cancel_delete(conversation_id)
            if core is not None:  # closing ends the time to undo
                core.conversations.delete(conversation_id)
        for page in self.tool_pages.values():
            page.close()
        self.session.close()

    def closeEvent(self, event) -> None:
        self.hide()
        self.shutdown()
        super().closeEvent(event)

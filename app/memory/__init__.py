"""Memory: what Hearth remembers (SQLite), how it finds it again (dense + full text), and what
gets remembered from a conversation. The entry point is `app.memory.service.MemoryService`."""

"""The language model: models on disk, the engine that runs one, prompt building."""

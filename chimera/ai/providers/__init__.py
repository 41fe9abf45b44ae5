"""Provider adapters: one for every OpenAI-compatible endpoint, plus the offline provider."""

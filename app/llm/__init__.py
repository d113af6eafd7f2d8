"""The optional language model: one OpenAI-compatible ``chat/completions`` client (hosted providers, Ollama,
llama.cpp's server). Off unless ``ATTUNE_LLM_BASE_URL`` is set."""

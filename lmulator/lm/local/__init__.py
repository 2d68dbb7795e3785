"""The embedded model: its files (joined and checked), its llama.cpp server, its prompt state."""

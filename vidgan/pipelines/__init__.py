"""End-to-end workflows built from vidgan's library pieces (importable, driven by the CLI)."""

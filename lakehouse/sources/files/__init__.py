"""File drops: files that arrive as files (machine logs, partner exports) -> the lake.

``spec`` declares a drop (landing prefix, name pattern, completeness, grouping, format),
``landing`` moves complete files into the lake (settle, claim, arrival-ordered takes with
SHA-256 manifests), ``readers`` turn one file's bytes into typed rows and rejected lines.
"""

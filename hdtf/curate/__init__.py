"""Curation cores: per-clip measures, scene cuts, aligned views, quality scores, embeddings, masks and face JSON that
the curation stages of ``hdtf prepare`` wrap (heavy libraries load on first use)."""

"""Checks that need texts or an embedder (placeholder until written)."""


def text_checks(ctx, emb, query_text, *, attribution=False):
    return (), [], None

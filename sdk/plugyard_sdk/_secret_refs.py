"""Secrets a plugin's code reads: ``ctx.secrets.get("NAME")`` and ``plugin.secrets.get("NAME")``.

Found with the tokenizer, not a regular expression, so a call in a comment or a docstring
is not one, and not with ``ast``: the sources are untrusted, and ``ast.parse`` of a small
file can need hundreds of MB (``_scan`` parses them in a capped child for that reason).
Tokenizing is linear in the source, and the package reader runs this only on files the
scan accepted, which are under its size limits. Only a literal name counts: a name built
at run time cannot be asked for before the plugin runs. Standard library only.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator, Mapping

__all__ = ["SECRET_NAME_RE", "secrets_read_in"]

#: What a secret may be called: the manifest's ``secrets[].name`` and the host's API agree.
SECRET_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

_SKIPPED = frozenset({tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT})


def _tokens(source: bytes) -> Iterator[tokenize.TokenInfo]:
    try:
        for token in tokenize.tokenize(io.BytesIO(source).readline):
            if token.type not in _SKIPPED:
                yield token
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return  # the scan reports broken files; here they just read no secrets


def _literal(token: tokenize.TokenInfo) -> str | None:
    if token.type != tokenize.STRING:
        return None
    try:
        value = ast.literal_eval(token.string)  # one string token: a constant, never code
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) and SECRET_NAME_RE.fullmatch(value) else None


def _names_in(source: bytes) -> Iterator[str]:
    tokens = list(_tokens(source))
    for index, token in enumerate(tokens):
        if token.string != "secrets" or [t.string for t in tokens[index + 1 : index + 4]] != [".", "get", "("]:
            continue
        at = index + 4
        if [t.string for t in tokens[at : at + 2]] == ["name", "="]:
            at += 2
        name = _literal(tokens[at]) if at < len(tokens) else None
        if name is not None and at + 1 < len(tokens) and tokens[at + 1].string in (",", ")"):
            yield name


def secrets_read_in(files: Mapping[str, bytes]) -> dict[str, list[str]]:
    """``{name: [files that read it]}`` for every ``.secrets.get("NAME")`` in the ``.py`` files."""
    found: dict[str, list[str]] = {}
    for path in sorted(files):
        if not path.endswith(".py") or b"secrets" not in files[path]:
            continue
        for name in _names_in(files[path]):
            paths = found.setdefault(name, [])
            if path not in paths:
                paths.append(path)
    return found

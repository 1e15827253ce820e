"""Encrypting and decrypting whole trees, with the MAC computed along the same walk (sops `Tree.Encrypt/Decrypt`).

The walk visits every document in order; a leaf's AAD is its map keys joined by `:` plus a trailing `:` (list
indices never enter it), a comment's AAD is the path of its container. The MAC is SHA-512 over the plaintext
bytes of every leaf (comments and keys excluded), or only of encrypted leaves after a `sha256("sops")` prefix
when `mac_only_encrypted` is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag

from gitops_engine.core.shown import shown
from gitops_engine.secrets.aes import (
    IvSource,
    authenticates,
    cipher,
    decrypt_raw,
    encrypt_value,
    fresh_iv,
    is_encrypted,
)
from gitops_engine.secrets.errors import CiphertextDamagedError, PlaintextLeafError, ValueMovedError
from gitops_engine.secrets.selection import Selection
from gitops_engine.secrets.values import Branch, Comment, Item, Node, Scalar, from_bytes, to_bytes

# Transforms one leaf: (value, path, encrypt?) -> new value.
_Leaf = Callable[[Scalar | Comment, tuple[str, ...], bool], Scalar | Comment]
_MAC_ONLY_PREFIX = hashlib.sha256(b"sops").digest()


@dataclass
class _Walk:
    """One pass over documents. `hit` says whether the rule's pattern matched a key on the path (key rules) or a
    comment before the value or one of its ancestors (comment rules); it is carried down instead of re-testing
    the whole path at every leaf."""

    selection: Selection
    leaf: _Leaf
    decrypting: bool
    hash: hashlib._Hash = field(default_factory=hashlib.sha512)

    def __post_init__(self) -> None:
        if self.selection.mac_only_encrypted:
            self.hash.update(_MAC_ONLY_PREFIX)
        self.by_comments = self.selection.by_comments
        self.matches = self.selection.matcher()

    def _child_hit(self, hit: bool, key: str | None, pending: list[str]) -> bool:
        """`hit` for a value under `key` (None: a list element) preceded by the comments in `pending`."""
        if hit:
            return True
        if self.by_comments:
            return any(self.matches(text) for text in pending)
        return key is not None and self.matches(key)

    def branch(self, branch: Branch, path: tuple[str, ...], hit: bool) -> Branch:
        items: list[Item] = []
        pending: list[str] = []
        for item in branch.items:
            if isinstance(item, Comment):
                items.append(self.comment(item, path, hit))
                pending.append(item.text)
                continue
            key, value = item
            items.append((key, self.node(value, (*path, key), self._child_hit(hit, key, pending))))
            pending = []
        return Branch(tuple(items))

    def node(self, node: Node, path: tuple[str, ...], hit: bool) -> Node:
        if isinstance(node, Branch):
            return self.branch(node, path, hit)
        if isinstance(node, tuple):
            out: list[Node | Comment] = []
            pending: list[str] = []
            for element in node:
                if isinstance(element, Comment):
                    out.append(self.comment(element, path, hit))
                    pending.append(element.text)
                else:
                    out.append(self.node(element, path, self._child_hit(hit, None, pending)))
                    pending = []
            return tuple(out)
        encrypt = self.selection.encrypts_when(hit)
        result = self.leaf(node, path, encrypt)
        plain = result if self.decrypting else node
        if plain is not None and (encrypt or not self.selection.mac_only_encrypted):
            assert not isinstance(plain, Comment)
            self.hash.update(to_bytes(plain))
        return result  # type: ignore[return-value]

    def comment(self, comment: Comment, path: tuple[str, ...], hit: bool) -> Comment:
        encrypt = self.selection.encrypts_when(hit) and not self.selection.marks(comment.text)
        result = self.leaf(comment, path, encrypt)
        if isinstance(result, Comment):
            return result
        return Comment(str(result))

    def mac(self) -> str:
        return self.hash.hexdigest().upper()


def aad_of(path: Sequence[str]) -> str:
    """The AAD sops binds to a value at `path`."""
    return ":".join(path) + ":"


def encrypt_documents(
    docs: Sequence[Branch], key: bytes, selection: Selection, iv_source: IvSource = fresh_iv
) -> tuple[tuple[Branch, ...], str]:
    """Encrypted documents and the MAC (uppercase hex) of their plaintext."""
    aead = cipher(key)

    def leaf(value: Scalar | Comment, path: tuple[str, ...], encrypt: bool) -> Scalar | Comment:
        if not encrypt or value is None:
            return value
        sealed = encrypt_value(aead, value, aad_of(path), iv_source)
        return Comment(sealed) if isinstance(value, Comment) else sealed

    walk = _Walk(selection, leaf, decrypting=False)
    return tuple(walk.branch(doc, (), False) for doc in docs), walk.mac()


@dataclass
class Decryption:
    """Plaintext documents, their MAC, and the IV each (plaintext, AAD) used (to re-emit unchanged values)."""

    documents: tuple[Branch, ...]
    mac: str
    ivs: dict[tuple[bytes, str], bytes]


def decrypt_documents(docs: Sequence[Branch], key: bytes, selection: Selection) -> Decryption:
    """Decrypt every encrypted leaf; a damaged, moved or plaintext-where-encrypted leaf raises its own error."""
    ivs: dict[tuple[bytes, str], bytes] = {}
    aead = cipher(key)

    def leaf(value: Scalar | Comment, path: tuple[str, ...], encrypt: bool) -> Scalar | Comment:
        raw = value.text if isinstance(value, Comment) else value
        if not encrypt or raw is None or raw == "":
            return value
        if not is_encrypted(raw):
            if isinstance(value, Comment):
                return value  # files from older sops carry plaintext comments; sops accepts them too
            raise PlaintextLeafError(
                f"value at {'.'.join(path)} is not encrypted although the file's rule requires it: "
                "it was added or edited after encryption (re-encrypt the file from its plaintext)",
                path,
            )
        assert isinstance(raw, str)
        aad = aad_of(path)
        try:
            plaintext, iv, kind = decrypt_raw(aead, raw, aad)
        except (InvalidTag, ValueError):
            raise _classify(key, raw, path, docs, selection) from None
        try:
            plain = from_bytes(kind, plaintext)
        except ValueError:  # the type is outside what the tag authenticates
            raise CiphertextDamagedError(
                f"value at {'.'.join(path)} does not read as the type its ENC[…] names ({shown(kind, 20)}): the "
                "type was changed (restore the file from git)",
                path,
            ) from None
        ivs[(to_bytes(plain), aad)] = iv
        return plain

    walk = _Walk(selection, leaf, decrypting=True)
    plain_docs = tuple(walk.branch(doc, (), False) for doc in docs)
    return Decryption(plain_docs, walk.mac(), ivs)


def _classify(key: bytes, value: str, path: tuple[str, ...], docs: Sequence[Branch], selection: Selection) -> Exception:
    """A value failed under its own AAD: find out whether it belongs to another path or is damaged."""
    where = ".".join(path) or "(top level)"
    for other in sorted(_all_paths(docs)):
        if other != aad_of(path) and authenticates(key, value, other):
            return ValueMovedError(
                f"value at {where} was encrypted for {other.rstrip(':').replace(':', '.')}: values were swapped or "
                "moved between keys (restore the file from git or re-encrypt it from its plaintext)",
                path,
            )
    return CiphertextDamagedError(
        f"value at {where} fails authentication: the ciphertext was changed or damaged (restore the file from git)",
        path,
    )


def _all_paths(docs: Sequence[Branch]) -> set[str]:
    found: set[str] = set()

    def visit(node: Node | Comment, path: tuple[str, ...]) -> None:
        if isinstance(node, Branch):
            found.add(aad_of(path))
            for key, value in node.pairs():
                visit(value, (*path, key))
        elif isinstance(node, tuple):
            for element in node:
                visit(element, path)
        else:
            found.add(aad_of(path))

    for doc in docs:
        visit(doc, ())
    return found

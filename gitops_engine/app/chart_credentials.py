"""Credentials for private chart repositories, read from the Secret a source names in `spec.secretRef`.

The scan finds the Secret in the source's cluster and namespace (updates.scan); here its file is read from the
repository and, when SOPS-encrypted (as a fleet repository keeps Secrets), decrypted with the identities of the
one discovery order (adapters.agekeys: the --age-key file first). Flux reads `username` and `password` from the
Secret; a `kubernetes.io/dockerconfigjson` Secret (what `flux create secret oci` writes for an OCIRepository) gives the
`auths` entry of the registry's host. The values stay in memory and go to the lookup's Authorization header
only: never to argv, a log line, a message or a cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from gitops_engine.adapters import git
from gitops_engine.adapters.agekeys import all_identities
from gitops_engine.core.errors import GitopsError
from gitops_engine.helm.credentials import CredentialsError, secret_values, source_credentials
from gitops_engine.model.credentials import Credentials
from gitops_engine.updates.uses import ChartSource, SecretRef


class _UnusableSecretError(GitopsError):
    """A Secret that holds no credentials this lookup can use (the message names what is missing, no value)."""


def with_credentials(
    sources: Sequence[ChartSource],
    repo: git.Repository,
    tree: str,
    age_key: Path | None = None,
) -> tuple[tuple[ChartSource, ...], dict[str, str]]:
    """`sources` with the credentials of their Secrets attached, and why each source left out could not get
    them (by URL): such a source is not looked up, since an anonymous request would only be refused. `age_key` is
    the identity file tried first."""
    found: list[ChartSource] = []
    failures: dict[str, str] = {}
    known: list[str] | None = None

    def keys() -> list[str]:
        nonlocal known
        if known is None:  # discovered once, and only when some source has a Secret
            known = all_identities(key_file=age_key)
        return known

    for source in sources:
        secret = source.secret
        if secret is None:
            found.append(source)
            continue
        try:
            auth = _credentials(secret, git.read_file(repo, tree, secret.path) if secret.path else None, source, keys)
        except GitopsError as exc:
            failures[source.url] = f"{source.url}: no credentials from {secret.name}: {exc}"
            continue
        found.append(replace(source, auth=auth))
    return tuple(found), failures


def _credentials(
    secret: SecretRef, data: bytes | None, source: ChartSource, identities: Callable[[], Iterable[str]]
) -> Credentials:
    if data is None:
        raise _UnusableSecretError("the cluster does not define this Secret in the repository (add it, SOPS-encrypted)")
    # imported here: a fleet whose sources are public (most bot passes) does not load the SOPS code
    from gitops_engine.secrets import sopsfile
    from gitops_engine.secrets.stores import Format
    from gitops_engine.secrets.values import to_plain

    meta = sopsfile.read_metadata(data, Format.YAML, secret.path)
    if meta is None:
        documents = sopsfile.parse_plain(data, Format.YAML, secret.path)
    else:
        documents = sopsfile.open_encrypted(data, Format.YAML, identities(), secret.path).documents
    document = to_plain(documents[secret.doc]) if secret.doc < len(documents) else None
    if not isinstance(document, dict):
        raise _UnusableSecretError(f"{secret.path}: document {secret.doc + 1} is not the Secret")
    try:
        return source_credentials(secret_values(document), source.url)
    except CredentialsError as exc:
        raise _UnusableSecretError(f"{secret.path}: {exc}") from None

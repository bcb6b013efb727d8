"""The Hugging Face Hub in one place: what a repo id looks like, a finished folder uploaded as one commit, a revision
downloaded through the Hub cache, and one line naming the repo and the reason when a repo, a revision or a token is
missing.

It serves ``HDTFGenerator`` (``from_pretrained`` of a repo id, ``push_to_hub``), ``examples/train.py --push_to_hub``
and ``hdtf export --push-to-hub``. huggingface_hub is imported on first use, so ``import hdtf`` stays light.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from hdtf.errors import HDTFError

__all__ = ["check_can_push", "download", "is_offline", "is_repo_id", "reason", "upload_files", "upload_folder"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_LOGIN = "log in with `hf auth login` or set HF_TOKEN"


def is_repo_id(name: str) -> bool:
    """``owner/name``: the shape of a Hub repo id (used to tell a repo from a local path that does not exist)."""
    return bool(_REPO_ID.match(name))


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set: nothing can be uploaded, and downloads come from the cache only."""
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def upload_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    repo_type: str = "model",
    private: bool | None = None,
    token: str | None = None,
    commit_message: str,
    ignore_patterns: Sequence[str] | None = None,
    delete_patterns: Sequence[str] | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload the finished ``folder`` as one commit; return the commit URL.

    A bare ``name`` is the user's ``user/name``: the upload goes to the id ``create_repo`` returns. Remote files that
    match ``delete_patterns`` and are not in ``folder`` are deleted in the same commit (an earlier export's shards).
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        created = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=created.repo_id,
            repo_type=repo_type,
            folder_path=str(folder),
            commit_message=commit_message,
            ignore_patterns=list(ignore_patterns) if ignore_patterns else None,
            delete_patterns=list(delete_patterns) if delete_patterns else None,
        )
    except Exception as exc:  # noqa: BLE001 - every Hub failure becomes one line naming the repo and why
        raise HDTFError(f"{repo_id}: could not upload to the Hugging Face Hub ({reason(exc)})") from exc
    return str(info.commit_url)


def upload_files(
    folder: str | os.PathLike,
    names: Sequence[str],
    repo_id: str,
    *,
    repo_type: str = "model",
    private: bool | None = None,
    token: str | None = None,
    commit_message: str,
    delete_patterns: Sequence[str] = (),
) -> str:
    """Create ``repo_id`` if needed and upload exactly the files ``names`` (relative to ``folder``, the same paths in
    the repo) as one commit; nothing else in ``folder`` is read. Remote files that match ``delete_patterns`` and are
    not among ``names`` are deleted in the same commit. Return the commit URL."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(token=token)
    try:
        created = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        remote = api.list_repo_files(created.repo_id, repo_type=repo_type) if delete_patterns else []
        stale = [path for path in remote if path not in names and any(fnmatchcase(path, p) for p in delete_patterns)]
        operations = [*(CommitOperationDelete(path_in_repo=path) for path in stale),
                      *(CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(Path(folder) / name))
                        for name in names)]
        info = api.create_commit(created.repo_id, operations, commit_message=commit_message, repo_type=repo_type)
    except Exception as exc:  # noqa: BLE001 - every Hub failure becomes one line naming the repo and why
        raise HDTFError(f"{repo_id}: could not upload to the Hugging Face Hub ({reason(exc)})") from exc
    return str(info.commit_url)


def check_can_push(repo_id: str, token: str | None = None) -> None:
    """Before work whose end is an upload: one line now (HDTFError) when it could not be uploaded — offline, no
    token, or a token the Hub does not accept — rather than a traceback after the work."""
    from huggingface_hub import HfApi, get_token

    if is_offline():
        raise HDTFError(f"{repo_id}: cannot push to the Hugging Face Hub: HF_HUB_OFFLINE is set")
    token = token or get_token()
    if not token:
        raise HDTFError(f"{repo_id}: cannot push to the Hugging Face Hub: no Hugging Face token ({_LOGIN})")
    try:
        HfApi(token=token).whoami()
    except Exception as exc:  # noqa: BLE001 - an invalid token, no network: one line naming the repo and why
        raise HDTFError(f"{repo_id}: cannot push to the Hugging Face Hub ({reason(exc)})") from exc


def download(
    repo_id: str,
    *,
    repo_type: str = "model",
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """The folder of ``repo_id`` at ``revision`` (default: main) in the Hub cache, downloaded if needed; only the
    cache is read when ``HF_HUB_OFFLINE=1``."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(repo_id, repo_type=repo_type, revision=revision, token=token, cache_dir=cache_dir)
        )
    except Exception as exc:  # noqa: BLE001 - offline, no network, missing repo or revision, auth: one line each
        why = reason(exc, revision)
        raise HDTFError(
            f"{repo_id}: not a local directory and cannot be downloaded from the Hugging Face Hub ({why})"
        ) from exc


def reason(exc: BaseException, revision: str | None = None) -> str:
    """``Type: why`` in one line, in words for the usual cases (missing repo, revision or token, offline)."""
    from huggingface_hub import errors

    kind = type(exc).__name__
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, errors.RevisionNotFoundError):
        why = f"the repository has no revision {revision or 'main'!r} (branch, tag or commit)"
    elif isinstance(exc, errors.GatedRepoError):
        why = f"the repository is gated: accept its conditions on the Hub, then {_LOGIN}"
    elif isinstance(exc, errors.RepositoryNotFoundError):
        why = f"no such repository, or it is private and no valid token was given ({_LOGIN})"
    elif isinstance(exc, errors.LocalTokenNotFoundError) or status == 401:
        why = f"no valid Hugging Face token ({_LOGIN})"
    elif status == 403:
        why = "the token has no write access to this repository"
    elif isinstance(exc, errors.OfflineModeIsEnabled) or (
        isinstance(exc, errors.LocalEntryNotFoundError) and is_offline()
    ):
        why = "HF_HUB_OFFLINE is set and it is not in the local Hub cache"
    else:
        why = (str(exc).strip().splitlines() or [kind])[0]
    return f"{kind}: {why}"

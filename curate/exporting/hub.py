"""``--push-to-hub REPO``: upload an export folder as a model repo with ``huggingface_hub.upload_folder``."""

from __future__ import annotations

import os
from pathlib import Path

from curate.errors import UserError

# app/model/ holds hard links of the model files at the root: uploading them twice would double the upload.
IGNORE = ["app/model/*"]


def push(folder: str | Path, repo_id: str, token: str | None = None, private: bool = True) -> str:
    """Create ``repo_id`` (if needed) and upload ``folder``; returns the commit URL.

    Args:
        folder: the export folder (its README.md is the model card).
        repo_id: ``user/name`` on the Hugging Face hub.
        token: a write token (default: ``HF_TOKEN`` or the saved login).
        private: create the repo private.
    Returns:
        The URL of the upload's commit.
    Raises:
        UserError: no token, no network, or the hub refused (one line).
    """
    from huggingface_hub import create_repo, get_token, upload_folder

    token = token or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise UserError("push to hub: no token; set HF_TOKEN or run `hf auth login` (the export itself is done)")
    try:
        create_repo(repo_id, token=token, private=private, exist_ok=True)
        info = upload_folder(folder_path=str(folder), repo_id=repo_id, token=token, ignore_patterns=IGNORE,
                             commit_message="curate export")
    except Exception as e:  # network, auth, bad repo id: one line, the local export stays
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"push to hub {repo_id!r} failed ({type(e).__name__}: {first}); "
                        f"the export in {folder} is complete") from e
    return str(getattr(info, "commit_url", info))

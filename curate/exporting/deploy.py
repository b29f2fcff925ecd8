"""``--app``: a folder that serves the exported model in a Streamlit chat on CPU, with nothing else from the
run. ``app.py`` is three lines calling ``curate.app.chat.deploy_page``: the app's own chat view, so the
folder's ``requirements.txt`` names this package (``curate-chat``). The model is hard-linked into
``app/model/`` (no extra disk on one filesystem; copied otherwise), so ``app/`` alone is a Hugging Face
Space (``README.md`` carries the Space header)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from curate import __version__

APP_PY = '''"""Chat with the exported model: `streamlit run app.py` (see README.md)."""
from pathlib import Path

from curate.app.chat import deploy_page

deploy_page(Path(__file__).resolve().parent, title={title!r})
'''
# Post-script GC starves the generating thread (the app engineer measured it); no file watcher on a server.
CONFIG = '''[runner]
postScriptGC = false

[server]
fileWatcherType = "none"
headless = true

[browser]
gatherUsageStats = false

[client]
toolbarMode = "minimal"
'''
SPACE_README = '''---
title: {title}
emoji: 💬
sdk: streamlit
app_file: app.py
pinned: false
---

# {title}

A Streamlit chat with the model in `model/` (exported by `curate export`; its card is the model folder's
README.md). Runs on CPU:

```bash
pip install -r requirements.txt
streamlit run app.py
```

`CURATE_CHAT_MODEL=/path/to/model` serves another folder.
'''
MODEL_FILES = ("*.json", "*.safetensors", "*.jinja", "*.txt", "*.model")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_app(folder: Path, model_dir: Path, title: str, summary: str) -> Path:
    """Write the deploy app into ``folder`` for the merged model in ``model_dir``.

    Args:
        folder: the app folder to create (``OUT/app``).
        model_dir: the merged model's folder (its files are linked into ``folder/model``).
        title: the page and Space title.
        summary: Markdown for the sidebar (the card's summary).
    Returns:
        ``folder``.
    """
    (folder / ".streamlit").mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(APP_PY.format(title=title), encoding="utf-8")
    (folder / ".streamlit" / "config.toml").write_text(CONFIG, encoding="utf-8")
    (folder / "requirements.txt").write_text(f"curate-chat=={__version__}\n", encoding="utf-8")
    (folder / "README.md").write_text(SPACE_README.format(title=title), encoding="utf-8")
    (folder / "summary.md").write_text(summary + "\n", encoding="utf-8")
    model = folder / "model"
    model.mkdir(exist_ok=True)
    for pattern in MODEL_FILES:
        for src in model_dir.glob(pattern):
            if src.is_file() and src.name not in ("lineage.json", "README.md"):
                _link_or_copy(src, model / src.name)
    return folder

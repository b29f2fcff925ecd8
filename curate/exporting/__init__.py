"""Ship a trained variant: ``curate.export(run_dir, variant, to)`` (``curate export``).

One idea per module: ``checks`` (what is refused, before writing), ``merge`` (base + LoRA -> one folder),
``gguf_file`` / ``gguf_vocab`` (llama.cpp's format, written with the ``gguf`` package), ``lineage`` (the
facts from the run), ``plot`` and ``card`` (the model card), ``deploy`` (the Streamlit chat folder),
``hub`` (upload), ``api`` (the order of it all, into a temp folder renamed at the end).

The package is ``curate.exporting`` rather than ``curate.export`` so that ``curate.export`` stays the
function, as ``curate.report`` is a function beside ``curate.reporting``.
"""

from curate.exporting.api import Exported, describe, export

__all__ = ["Exported", "describe", "export"]

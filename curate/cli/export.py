"""`curate export RUN_DIR VARIANT --to DIR`: ship a trained variant as a merged model with its model card
and lineage; `--gguf q8_0,f16` adds llama.cpp files, `--app` a Streamlit chat folder, `--push-to-hub REPO`
uploads the result."""

from __future__ import annotations

import argparse

from curate.cli._args import add_existing_run_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="ship a trained variant: merged model, model card, GGUF, chat app",
                       description=__doc__)
    add_existing_run_dir(p, "run directory with trained models (RUN_DIR/models/<variant>/adapter)")
    p.add_argument("variant", metavar="VARIANT", help="the variant to export (a subset's model)")
    p.add_argument("--to", required=True, metavar="DIR", help="folder to create (refused if it exists)")
    p.add_argument("--gguf", default=None, metavar="TYPES",
                   help="also write GGUF files of these types, comma-separated: q8_0, f16, bf16, f32")
    p.add_argument("--app", action="store_true", help="also write app/: a Streamlit chat serving the model")
    p.add_argument("--push-to-hub", default=None, metavar="REPO", help="upload the folder to this hub model repo")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                   help="dtype of the merged weights (default float32)")
    p.add_argument("--no-ids", dest="ids", action="store_false",
                   help="lineage.json lists only the count and sha256 of the training rows, not their ids")
    p.add_argument("--force", action="store_true", help="replace DIR if it exists")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from curate.exporting import describe, export

    result = export(args.run_dir, args.variant, args.to, gguf=args.gguf, app=args.app,
                    push_to_hub=args.push_to_hub, force=args.force, ids=args.ids, dtype=args.dtype)
    print(describe(result))
    return 0

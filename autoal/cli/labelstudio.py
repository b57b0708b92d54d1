"""``autoal labelstudio push|pull|sync``: a run's batches in a running Label Studio, its answers back in the run.

Parsing imports nothing heavy; the SDK loads when a command runs (:mod:`autoal.labelstudio.push`,
:mod:`autoal.labelstudio.pull`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["add_parser", "command_labelstudio"]


def add_parser(sub) -> None:
    """Add ``labelstudio`` and its three subcommands to the ``autoal`` parser's ``sub``."""
    ls_p = sub.add_parser("labelstudio", help="label in a running Label Studio: push the batch, pull the answers, sync",
                          description="Use a running Label Studio as the labelling front end of a run, through its "
                          "API. The token is read from --token or LABEL_STUDIO_API_KEY.")
    ls_sub = ls_p.add_subparsers(dest="labelstudio_command", required=True)
    push_p = ls_sub.add_parser("push", help="create (or find) the run's project and import its open batch")
    pull_p = ls_sub.add_parser("pull", help="store the answers given in the project since the last pull")
    sync_p = ls_sub.add_parser("sync", help="pull, train when the batch is answered, push the next; until Ctrl+C")
    for p in (push_p, pull_p, sync_p):
        p.add_argument("run_dir", type=Path)
        p.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL", "http://localhost:8080"),
                       help="Label Studio's address (default $LABEL_STUDIO_URL or http://localhost:8080)")
        p.add_argument("--token", default=None, help="an API token (default $LABEL_STUDIO_API_KEY)")
        p.add_argument("--title", help="the project's title (default: autoal RUN_FOLDER RUN_ID)")
    for p in (push_p, sync_p):
        p.add_argument("--image-root", type=Path,
                       help="Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: Label Studio's own, asked "
                       "through its API, else the folder above the one holding all images); a push with a corrected "
                       "root mends the tasks pushed before")
        p.add_argument("--predictions", choices=["none", "new", "all"], default="none",
                       help="the model's guess as a pre-annotation: never (default), for examples nobody labelled yet, "
                       "or also for relabels")
    for p in (pull_p, sync_p):
        p.add_argument("--user", action="append", metavar="EMAIL=NAME",
                       help="a Label Studio user (email or id) who is annotator NAME (repeat it; default: the email, "
                       "or its part before @, is the annotator's name)")
    pull_p.add_argument("--annotator", help="the one annotator who answered every task")
    sync_p.add_argument("--poll", type=float, default=1.0, help="seconds between looks at Label Studio (default 1)")


def _connection(args) -> dict:
    return {"url": args.url, "token": args.token or os.environ.get("LABEL_STUDIO_API_KEY"), "title": args.title}


def command_labelstudio(args) -> int:
    from autoal.store.run_state import open_run

    open_run(args.run_dir).close()  # a clear error when it is not a run
    if args.labelstudio_command == "push":
        from autoal.labelstudio.push import push

        report = push(args.run_dir, image_root=args.image_root, predictions=args.predictions, **_connection(args))
        print(report.message())
        return 0
    if args.labelstudio_command == "pull":
        from autoal.labelstudio.pull import pull

        report = pull(args.run_dir, users=args.user, annotator=args.annotator, **_connection(args))
        print(report.message())
        print(report.next_step(args.run_dir))
        return 1 if report.rejected else 0
    return _sync(args)


def _sync(args) -> int:
    from autoal.labelstudio.sync import sync
    from autoal.common.signals import stop_on_signals

    stop_on_signals()
    try:
        print(f"autoal labelstudio sync: {args.run_dir} with {args.url} every {args.poll:g} s (Ctrl+C stops; every "
              "answer pulled is already stored)", flush=True)
        reason = sync(args.run_dir, image_root=args.image_root, predictions=args.predictions, users=args.user,
                      poll=args.poll, log=lambda line: print(line, flush=True), **_connection(args))
    except KeyboardInterrupt:
        reason = None
    if reason is None:
        print(f"autoal labelstudio sync: stopped; every answer pulled is in the run store. `autoal labelstudio sync "
              f"{args.run_dir}` goes on", file=sys.stderr)
    return 0

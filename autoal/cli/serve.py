"""The command-line side of the labelling server and the Label Studio round trip.

``autoal serve``, ``autoal annotators add|link|list``, ``autoal export-labelstudio``,
``autoal import-labelstudio`` and ``autoal labelstudio push|pull|sync`` (:mod:`autoal.cli.labelstudio`).
Parsing imports nothing heavy; Flask and waitress load when serving.
"""

from __future__ import annotations

import re
import sys
from contextlib import closing
from pathlib import Path

from autoal.cli.run_options import add_run_options, run_arguments
from autoal.common.signals import stop_on_signals

__all__ = ["add_parsers", "COMMANDS", "SERVE_DEFAULTS"]

#: The run options whose defaults ``autoal serve --manifest`` changes for a team on the page.
SERVE_DEFAULTS = {"batch_size": 50, "n_rounds": 10, "initial_per_class": 8}


def add_parsers(sub) -> None:
    """Add this module's subcommands to the ``autoal`` parser's ``sub``."""
    serve_p = sub.add_parser(
        "serve", help="a labelling page for a team and an organiser page over a run (new with --manifest)",
        description="Serve RUN_DIR's labelling page: one personal link per annotator and one organiser link are "
        "printed. With --manifest a new run is created in RUN_DIR first (run options as for `autoal run`).")
    serve_p.add_argument("run_dir", type=Path, help="the run folder (created with --manifest)")
    serve_p.add_argument("--manifest", type=Path, help="start a new run from this manifest CSV (label,image_path)")
    serve_p.add_argument("--test", type=Path, help="labelled holdout manifest for a new run")
    serve_p.add_argument("--host", help="address to listen on (default: where the run was last served, so its links "
                         "keep working; else 127.0.0.1: this machine only)")
    serve_p.add_argument("--port", type=int, help="port (default: the one the run was last served on; else 8765; "
                         "0 picks a free one)")
    serve_p.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    serve_p.add_argument("--url", help="the address people reach the server at, for the printed links (default: "
                         "http://HOST:PORT; set it when serving behind a proxy or on all interfaces)")
    serve_p.add_argument("--new-links", action="store_true",
                         help="issue new links for the organiser and every annotator (the old ones stop working)")
    serve_p.add_argument("--reassign-after", type=float, metavar="MINUTES",
                         help="hand the open examples of an annotator not seen for this long to others (0: never)")
    serve_p.add_argument("--show-guess", choices=["none", "new", "all"],
                         help="show the model's guess on the page: never (default), for new examples, or also for relabels")
    add_run_options(serve_p, defaults=SERVE_DEFAULTS, page=True)

    ann_p = sub.add_parser("annotators", help="add an annotator to a run and print their link; new links; list")
    ann_sub = ann_p.add_subparsers(dest="annotators_command", required=True)
    add_p = ann_sub.add_parser("add", help="add an annotator (labels on the page) and print their personal link")
    add_p.add_argument("run_dir", type=Path)
    add_p.add_argument("name")
    add_p.add_argument("--new-link", action="store_true", help="the annotator exists: give them a new link instead")
    add_p.add_argument("--url", help="the server's address for the link (default: the one it last served on)")
    link_p = ann_sub.add_parser("link", help="a new link for an annotator or the organiser (the old one stops working)")
    link_p.add_argument("run_dir", type=Path)
    who = link_p.add_mutually_exclusive_group(required=True)
    who.add_argument("name", nargs="?")
    who.add_argument("--organiser", action="store_true")
    link_p.add_argument("--url", help="the server's address for the link (default: the one it last served on)")
    list_p = ann_sub.add_parser("list", help="the run's annotators, their counts and whether they have a link")
    list_p.add_argument("run_dir", type=Path)

    export_p = sub.add_parser("export-labelstudio", help="write the open batch as Label Studio tasks + labeling config")
    export_p.add_argument("run_dir", type=Path)
    export_p.add_argument("--annotator", help="only the examples waiting for this annotator")
    export_p.add_argument("--out", type=Path, help="folder for the files (default RUN_DIR/labelstudio)")
    where = export_p.add_mutually_exclusive_group()
    where.add_argument("--image-root", type=Path,
                       help="Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: the folder above the one "
                       "holding all images)")
    where.add_argument("--paths", action="store_true", help="absolute image paths instead of local-files URLs")
    export_p.add_argument("--predictions", choices=["none", "new", "all"], default="none",
                          help="the model's guess as a pre-annotation: never (default, as on autoal's page), for "
                          "examples nobody labelled yet, or also for relabels")
    import_p = sub.add_parser("import-labelstudio", help="store the answers of a Label Studio JSON export")
    import_p.add_argument("run_dir", type=Path)
    import_p.add_argument("export", type=Path, help="the JSON export (exportType=JSON)")
    import_p.add_argument("--annotator", help="the run annotator who answered every task")
    import_p.add_argument("--user-map", metavar="MAP",
                          help="Label Studio users to annotators: 1=alice,2=bob (ids or emails), or a JSON file "
                          "(a dict, or Label Studio's /api/users/ list)")

    from autoal.cli.labelstudio import add_parser as add_labelstudio_parser

    add_labelstudio_parser(sub)


def _input_error(message):
    from autoal.errors import InputError

    return InputError(message)


def _page_annotators(args) -> list:
    from autoal.annotation.annotators import PageAnnotator
    from autoal.server import access

    if not args.annotators:
        raise _input_error("a new run needs its annotators: --annotators alice,bob")
    names = [n.strip() for n in args.annotators.split(",") if n.strip()]
    if len(set(names)) != len(names) or not names:
        raise _input_error(f"--annotators needs distinct names, got {args.annotators!r}")
    return [PageAnnotator(access.check_name(n)) for n in names]


def _session(args):
    """A new run's session (--manifest) or the existing run's."""
    from autoal.rounds.loop import resume_session, start_session
    from autoal.data.manifest import load_manifest, one_label_kind
    from autoal.store.run_state import store_in_the_way

    run_dir = args.run_dir
    exists = (run_dir / "run.sqlite").is_file()
    if args.manifest is None:
        if args.test is not None:
            raise _input_error("--test goes with --manifest, for a new run")
        if not exists:
            raise _input_error(f"{str(run_dir)!r} holds no run: start one with `autoal serve {run_dir} --manifest M.csv "
                               "--annotators alice,bob`, or point at a run folder")
        if args.annotators:
            raise _input_error(f"{str(run_dir)!r} holds a run already; add people with `autoal annotators add "
                               f"{run_dir} NAME` instead of --annotators")
        return resume_session(run_dir, verbose=not args.quiet, n_rounds=args.n_rounds)
    refusal = store_in_the_way(run_dir, run_there=f"{str(run_dir)!r} holds a run already: serve it without "
                               f"--manifest (`autoal serve {run_dir}`), or choose a new folder")
    if refusal:  # None for an empty run.sqlite: the new run replaces it
        raise _input_error(refusal)
    annotators = _page_annotators(args)
    df = load_manifest(args.manifest)
    test_df = load_manifest(args.test) if args.test else None
    options = run_arguments(args, args.manifest.stem)
    (df, test_df), options["classes"] = one_label_kind([df, test_df], "label", options.get("classes"))
    options.update(annotators=annotators, output_dir=run_dir, simulate=False)
    if options.get("n_rounds") is None:
        options["n_rounds"] = SERVE_DEFAULTS["n_rounds"]
    return start_session(df, test_df=test_df, **options)


def command_serve(args):
    from autoal.server import LabellingServer, access, issue_links, settings

    from autoal.common.checks import POSITIVE_INT, Integral, Interval, check_option

    if args.port is not None:
        check_option("--port", args.port, Interval(Integral, 0, 65535), hint="0 picks a free one")
    check_option("--threads", args.threads, POSITIVE_INT)
    if args.url is not None and not re.fullmatch(r"https?://[^\s/?#]+/?", args.url):
        raise _input_error(f"--url must be an address such as https://label.example.org, got {args.url!r}")
    changes = {}
    if args.reassign_after is not None:
        changes["reassign_after_minutes"] = args.reassign_after
    if args.show_guess is not None:
        changes.update(show_guess_new=args.show_guess != "none", show_guess_relabel=args.show_guess == "all")
    settings.check_settings(**changes)  # before a new run is made
    session, server = _session(args), None
    run_dir = args.run_dir
    try:
        with closing(access.connect(run_dir)) as db:
            if changes:
                settings.set_settings(db, **changes)
            last = settings.last_address(db)
        host, port, url, note = _address(args, last)
        try:
            server = LabellingServer(run_dir, session, host=host, port=port, threads=args.threads)
        except OSError as exc:
            reused = last is not None and (host, port) == (last["host"], last["port"])
            raise _input_error(_cannot_listen(host, port, exc, reused=reused)) from None
        with closing(access.connect(run_dir)) as db:
            settings.save_address(db, host, server.server.effective_port, url)  # the port --port 0 got, too
        links = issue_links(run_dir, _public_url(url, host, server.url), renew=args.new_links)
    except BaseException:
        # the port and the run's writer lock given back (main() may be called again in this process)
        if server is not None:
            server.close()  # closes the session too
        else:
            session.close()
        raise
    print(f"autoal serve: {run_dir} on {server.url} (Ctrl+C stops; every answer is already stored)")
    if note:
        print(note)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print("  warning: listening beyond this machine over plain HTTP; put it behind HTTPS before sending links")
    width = max(len(name) for _, name, _ in links)
    for role, name, link in links:
        label = "organiser" if role == access.ORGANISER else name
        shown = link or (f"issued earlier (new one: `autoal annotators link {run_dir} "
                         f"{'--organiser' if role == access.ORGANISER else name}`)")
        print(f"  {label:<{width}}  {shown}")
    sys.stdout.flush()
    stop_on_signals()
    try:
        server.run()  # waitress returns on Ctrl+C (SIGINT) after finishing the requests in progress
    except KeyboardInterrupt:
        pass
    print(f"autoal serve: stopped; every answer given is in the run store, the labels so far in "
          f"{run_dir / 'labels.csv'}. `autoal serve {run_dir}` goes on", file=sys.stderr)
    return 0


def _address(args, last) -> tuple:
    """``(host, port, url, note)``: where to listen and the --url for links. What is not given on the command
    line is taken from where the run was last served (``last``, see :func:`autoal.server.settings.last_address`), so that the
    links given out keep working; ``note`` says which of the two happened (a line to print, or "")."""
    host = args.host if args.host is not None else (last["host"] if last else "127.0.0.1")
    port = args.port if args.port is not None else (last["port"] if last else 8765)
    if last is None:
        return host, port, args.url, ""
    same = (host, port) == (last["host"], last["port"])
    url = args.url or (last.get("url") if same else None)
    if same:
        return host, port, url, ("  the address it last served on, so the links given out before keep working "
                                 "(--port N or --host H serves elsewhere)")
    return host, port, url, (f"  note: the run was last served on {last['host']}:{last['port']}; links given out "
                             "before point there: give people new ones (--new-links, or `autoal annotators link`)")


def _cannot_listen(host, port, exc, *, reused) -> str:
    """The error for a port that is taken (or an address this machine does not have), with the fix."""
    if reused:
        return (f"cannot listen on {host}:{port}, where this run was last served and its links point ({exc}). If "
                f"this run's server is still running, use it (or stop it first); else serve on another port with "
                f"--port N (0 picks a free one) and --new-links: the links given out before then stop working")
    return f"cannot listen on {host}:{port} ({exc}); choose another --port N (0 picks a free one)"


def _public_url(url, host, served_at) -> str:
    """The address for links: ``url`` (--url), else where the server listens (this machine's name for 0.0.0.0/::)."""
    import socket

    if url:
        return url.rstrip("/")
    if host in ("0.0.0.0", "::", ""):
        return served_at.replace(f"//{host}:", f"//{socket.gethostname()}:", 1)
    return served_at


def _base_url(db, url):
    from autoal.server import settings

    if url is None:
        return settings.get_settings(db)["base_url"]
    settings.set_settings(db, base_url=url.rstrip("/"))
    return url.rstrip("/")


def command_annotators(args):
    from autoal.server import access, page_annotator_names
    from autoal.store.labelling_queries import labels_per_annotator
    from autoal.store.run_state import open_run

    run_dir = args.run_dir
    open_run(run_dir).close()  # a clear error when it is not a run
    if args.annotators_command == "add":
        if not args.new_link:
            access.add_annotator(run_dir, args.name)
        db = access.connect(run_dir)
        try:
            if args.new_link and args.name not in access.annotator_names(db):
                raise _input_error(f"{args.name!r} is not an annotator of this run; add them with `autoal annotators "
                                   f"add {run_dir} {args.name}`")
            token = access.issue_token(db, access.ANNOTATOR, args.name)
            print(f"{args.name}: {access.link(_base_url(db, args.url), access.ANNOTATOR, token)}")
        finally:
            db.close()
        return 0
    db = access.connect(run_dir)
    try:
        if args.annotators_command == "link":
            role, name = (access.ORGANISER, access.ORGANISER) if args.organiser else (access.ANNOTATOR, args.name)
            if role == access.ANNOTATOR and name not in access.annotator_names(db):
                raise _input_error(f"{name!r} is not an annotator of this run; add them with `autoal annotators add "
                                   f"{run_dir} {name}`")
            token = access.issue_token(db, role, name)
            print(f"{name}: {access.link(_base_url(db, args.url), role, token)}")
            return 0
        page = set(page_annotator_names(db))
        labels = labels_per_annotator(db)
        for name in access.annotator_names(db):
            kind = "page/files" if name in page else "in-process"
            link = "has a link" if access.has_token(db, access.ANNOTATOR, name) else "no link yet"
            print(f"{name}\t{kind}\t{labels.get(name, 0)} labels\t{link}")
        return 0
    finally:
        db.close()


def command_export_labelstudio(args):
    from autoal.labelstudio.tasks import export_labelstudio

    tasks, config, root = export_labelstudio(args.run_dir, args.annotator, out_dir=args.out, image_root=args.image_root,
                                             paths=args.paths, predictions=args.predictions)
    print(f"wrote {tasks}")
    print(f"wrote {config}")
    if root is not None:
        print(f"images are local-files URLs under {root}: start Label Studio with "
              f"LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root}, and add "
              f"to the project a Local files storage (Settings > Cloud Storage) whose path is the folder below {root} "
              "holding the images (no sync needed; `autoal labelstudio push` does all of this through the API)")
    print(f"then create a project with {config.name} as its labeling config, import {tasks.name}, label, export as JSON, "
          f"and `autoal import-labelstudio {args.run_dir} EXPORT.json`")
    return 0


def command_import_labelstudio(args):
    from autoal.labelstudio.answers import import_labelstudio

    report = import_labelstudio(args.run_dir, args.export, annotator=args.annotator, user_map=args.user_map)
    print(report.message())
    print(report.next_step(args.run_dir))
    return 1 if report.rejected else 0


def command_labelstudio(args):
    from autoal.cli.labelstudio import command_labelstudio as run_command

    return run_command(args)


COMMANDS = {"serve": command_serve, "annotators": command_annotators,
            "export-labelstudio": command_export_labelstudio, "import-labelstudio": command_import_labelstudio,
            "labelstudio": command_labelstudio}

"""README.md and benchmarks/RESULTS.md against the code: the CLI synopsis, the length, the benchmark list, links.

When the synopsis test fails after a command-line option changed, run
``.venv/bin/python scripts/cli_synopsis.py --write`` and commit README.md.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from conftest import load_file_module

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DOCS = [README, RESULTS]


def load_synopsis_script():
    return load_file_module(ROOT / "scripts" / "cli_synopsis.py")


def prose(path: Path) -> list[tuple[int, str]]:
    """``(line number, line)`` of a Markdown file outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set:
    found, seen = set(), {}
    for _, line in prose(path):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """The targets of the Markdown links and images in a file's prose."""
    found = []
    for number, line in prose(path):
        text = re.sub(r"`[^`]*`", "", line)  # code spans hold no links
        found += [(number, target) for target in re.findall(r"\]\(([^)\s]+)\)", text)]
    return found


def test_readme_is_at_most_500_lines():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 500, f"README.md has {n} lines; keep it at most 500 (measurements go to benchmarks/RESULTS.md)"


def test_readme_cli_synopsis_matches_the_parser():
    script = load_synopsis_script()
    block = script.readme_block(README.read_text(encoding="utf-8"))
    assert block is not None, "README.md lacks the cli-synopsis markers around a fenced block"
    assert block == script.synopsis(), ("README.md's CLI synopsis differs from `autoal`'s parser: run "
                                        ".venv/bin/python scripts/cli_synopsis.py --write and commit README.md")


def test_synopsis_names_every_command_and_option():
    """The generator itself leaves nothing out: every subcommand and every option string appears."""
    import argparse

    from autoal.cli.commands import build_parser

    text = load_synopsis_script().synopsis()
    words = set(re.findall(r"--?[\w-]+|[\w-]+", text))

    def walk(parser, prefix):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            assert prefix in text, f"{prefix!r} is missing from the synopsis"
            for action in parser._actions:
                for option in action.option_strings:
                    if option not in ("-h", "--help"):
                        assert option in words, f"{prefix} {option} is missing from the synopsis"
            return
        for name, child in subs[0].choices.items():
            walk(child, f"{prefix} {name}")

    walk(build_parser(), "autoal")


def test_synopsis_shows_a_new_option():
    """An option added to the parser changes the synopsis, so the README test above fails until it is rewritten."""
    from autoal.cli.commands import build_parser

    script = load_synopsis_script()
    parser = build_parser()
    before = script.synopsis(parser)
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    sub.choices["export-labels"].add_argument("--brand-new-option", metavar="X")
    after = script.synopsis(parser)
    assert after != before and "--brand-new-option X" in after


def test_every_benchmark_script_is_listed_in_the_readme():
    section = README.read_text(encoding="utf-8").split("\n## Benchmarks\n", 1)
    assert len(section) == 2, "README.md has no '## Benchmarks' section"
    listed = set(re.findall(r"^- `(benchmarks/[\w]+\.py)`: \S", section[1].split("\n#", 1)[0], flags=re.M))
    scripts = {f"benchmarks/{p.name}" for p in (ROOT / "benchmarks").glob("*.py")}
    assert scripts - listed == set(), f"benchmark scripts without a line in README's Benchmarks list: " \
        f"{sorted(scripts - listed)}"
    assert listed - scripts == set(), f"README lists benchmark scripts that do not exist: {sorted(listed - scripts)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_point_at_existing_files_and_headings(doc):
    broken = []
    for number, target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{doc.name}:{number}: {target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{doc.name}:{number}: {target} (no heading #{anchor} in {file.name})")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_repository_paths_named_in_code_spans_exist(doc):
    """`scripts/setup.sh`, `autoal/common/torch_compat.py`, `benchmarks/results/round_speed/`: each exists."""
    missing = []
    for number, line in prose(doc):
        for span in re.findall(r"`([^`\s]+)`", line):
            if re.fullmatch(r"(autoal|scripts|benchmarks|tests|data_manifests|\.ci)/[\w./*-]*", span):
                if not list(ROOT.glob(span.rstrip("/"))):
                    missing.append(f"{doc.name}:{number}: {span}")
    assert not missing, "paths named in the docs that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_modules_and_names_in_the_docs_exist(doc):
    """`autoal.rounds.loop.start_session(df, ...)`, `autoal.multiannotator.crowdlab`: each module and name
    resolves."""
    missing = []
    for number, line in prose(doc):
        for span in re.findall(r"`(autoal(?:\.\w+)+)", line):
            parts = span.split(".")
            for cut in range(len(parts), 0, -1):  # the longest prefix that is a module, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                    break
                except ModuleNotFoundError:
                    continue
            for attribute in parts[cut:]:
                if not hasattr(obj, attribute):
                    missing.append(f"{doc.name}:{number}: {span}")
                    break
                obj = getattr(obj, attribute)
    assert not missing, "names in the docs that autoal does not have:\n" + "\n".join(missing)


def test_results_sections_named_in_the_code_exist():
    """``benchmarks/RESULTS.md, "The image side of small images"`` in a docstring or comment of autoal/: each quoted
    name begins a heading of RESULTS.md, so that the pointer leads to the figure."""
    headings = [line.lstrip("#").strip() for line in RESULTS.read_text(encoding="utf-8").splitlines()
                if line.startswith("## ") or line.startswith("### ")]
    missing = []
    for path in sorted((ROOT / "autoal").rglob("*.py")):
        text = " ".join(line.strip().lstrip("#:").strip() for line in path.read_text(encoding="utf-8").splitlines())
        for cited in re.finditer(r'benchmarks/RESULTS\.md,? \(?"([^"]+)"(?: and "([^"]+)")?', text):
            for name in filter(None, cited.groups()):
                if not any(heading.startswith(name) for heading in headings):
                    missing.append(f"{path.relative_to(ROOT)}: {name!r}")
    assert not missing, "RESULTS.md sections named in the code that it does not have:\n" + "\n".join(missing)

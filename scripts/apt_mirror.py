#!/usr/bin/env python3
"""Print the Debian archive mirror this machine's apt already uses.

The local Lambda image (scripts/build-sam-image.sh) is bootstrapped from Debian packages. The project
must not name any mirror host itself: the mirror is whatever the machine's apt configuration says,
read at run time from /etc/apt/sources.list (one-line format) and /etc/apt/sources.list.d/*.list /
*.sources (deb822). The main archive is preferred over security/updates/backports entries.

    python3 scripts/apt_mirror.py [--suite bookworm] [--root /]

Exit status 1 (and a message on stderr) when no usable `deb` entry exists.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

_USABLE_SCHEMES = ("http://", "https://", "file:/", "ftp://")
# A Debian archive carries these; another distribution's mirror (Ubuntu's noble, ...) has no bookworm.
DEBIAN_SUITES = {"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
                 "oldoldstable", "oldstable", "stable", "testing", "unstable"}


def parse_one_line(text: str) -> list[dict]:
    """Entries of a one-line-format sources.list: [{'uris', 'suites', 'components', 'types'}]."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        kind = words.pop(0)
        if kind not in ("deb", "deb-src"):
            continue
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words.pop(0)
            if words:
                words.pop(0)
        if len(words) < 2:
            continue
        entries.append({"types": [kind], "uris": [words[0]], "suites": [words[1]], "components": words[2:]})
    return entries


def parse_deb822(text: str) -> list[dict]:
    """Entries of a deb822 .sources file (stanzas separated by blank lines; '#' lines are comments)."""
    entries = []
    for stanza in _stanzas(text):
        if stanza.get("enabled", "yes").strip().lower() == "no":
            continue
        entries.append({
            "types": stanza.get("types", "").split(),
            "uris": stanza.get("uris", "").split(),
            "suites": stanza.get("suites", "").split(),
            "components": stanza.get("components", "").split(),
        })
    return entries


def _stanzas(text: str):
    fields: dict[str, str] = {}
    key = None
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if fields:
                yield fields
            fields, key = {}, None
            continue
        if raw[0] in " \t" and key:  # continuation line
            fields[key] += " " + raw.strip()
            continue
        if ":" in raw:
            key, value = raw.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()


def read_entries(root: Path = Path("/")) -> list[dict]:
    """All apt entries of the machine, in apt's reading order (sources.list first, then the directory)."""
    apt = root / "etc" / "apt"
    entries: list[dict] = []
    main_list = apt / "sources.list"
    if main_list.is_file():
        entries += parse_one_line(main_list.read_text(errors="replace"))
    parts = apt / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list" and path.is_file():
                entries += parse_one_line(path.read_text(errors="replace"))
            elif path.suffix == ".sources" and path.is_file():
                entries += parse_deb822(path.read_text(errors="replace"))
    return entries


def choose_mirror(entries: list[dict], suite: str) -> str | None:
    """The best `deb` URI for `suite`: one that lists the suite itself, else the main archive of another
    Debian release (same archive, has every release), never a security/updates/backports-only entry
    nor another distribution's mirror."""
    candidates = []
    for entry in entries:
        if "deb" not in entry["types"] or "main" not in entry["components"]:
            continue
        uris = [u for u in entry["uris"] if u.startswith(_USABLE_SCHEMES)]
        if not uris:
            continue
        suites = entry["suites"]
        main_suites = [s for s in suites if s in DEBIAN_SUITES]
        if suite in suites:
            rank = 0
        elif main_suites:
            rank = 1
        else:
            continue
        candidates.append((rank, uris[0]))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])  # stable: apt's order within a rank
    return candidates[0][1].rstrip("/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--root", type=Path, default=Path("/"), help="read <root>/etc/apt (for tests)")
    args = parser.parse_args(argv)
    mirror = choose_mirror(read_entries(args.root), args.suite)
    if mirror is None:
        print(f"apt_mirror: no 'deb ... main' entry for a Debian archive in {args.root / 'etc/apt'}; "
              "set SAM_IMAGE_MIRROR", file=sys.stderr)
        return 1
    print(mirror)
    return 0


if __name__ == "__main__":
    sys.exit(main())

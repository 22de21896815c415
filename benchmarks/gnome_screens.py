"""A folder of real desktop screenshots to measure against WebP (issue 40): GNOME's help figures.

    git clone https://gitlab.gnome.org/GNOME/gnome-user-docs
    python -m benchmarks.gnome_screens gnome-user-docs/gnome-help/C/figures OUT

The drawn folders of ``benchmarks.kinds`` are ours; these are screenshots of a real desktop (the
shell's menus, calendar, workspaces, the screenshot tool, the file manager), with its fonts, icons,
shadows and wallpapers. They are the GNOME Documentation Project's, under Creative Commons
Attribution-ShareAlike 3.0 Unported (gnome-help/C/legal.xml), so they are not copied into this
repository: this script writes them from a clone, as RGB (alpha over white, as a viewer shows
them), with OUT/SOURCES.md naming each file, its source and its licence. The photos and
photo-like illustrations among the figures (the colour-management pictures) and strips thinner
than 64 pixels are left out. Measure with ``python -m benchmarks.rd OUT``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

#: The figures of gnome-help/C/figures that are screens or drawn diagrams at least 64 pixels on
#: each side (as of the 2026 tree).
FIGURES = ("color-space", "input-methods-switcher", "nautilus-icons", "printing-select", "screenshot-tool",
           "search-results-order", "shell-activities-dash", "shell-appts", "shell-appts-classic", "shell-exit",
           "shell-exit-classic", "shell-exit-classic-expanded", "shell-exit-expanded", "shell-workspaces")

SOURCE = "https://gitlab.gnome.org/GNOME/gnome-user-docs/-/tree/main/gnome-help/C/figures"
LICENCE = "Creative Commons Attribution-ShareAlike 3.0 Unported (https://creativecommons.org/licenses/by-sa/3.0/)"


def write(figures: Path, out: Path) -> list[str]:
    """Write the :data:`FIGURES` found in ``figures`` to ``out`` as RGB PNGs; their names."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FIGURES:
        path = figures / f"{name}.png"
        if not path.exists():
            continue
        with Image.open(path) as im:
            im = im.convert("RGBA")
            flat = Image.new("RGB", im.size, (255, 255, 255))
            flat.paste(im, mask=im.getchannel("A"))
            flat.save(out / f"{name}.png")
        written.append(name)
    lines = [f"# GNOME help figures ({len(written)})", "", f"From {SOURCE}, by the GNOME Documentation Project,",
             f"licensed {LICENCE}; converted to RGB (alpha over white) by benchmarks/gnome_screens.py.", ""]
    lines += [f"- {name}.png" for name in written]
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", type=Path, help="gnome-help/C/figures of a gnome-user-docs clone")
    parser.add_argument("out", type=Path, help="folder to write the screenshots into")
    args = parser.parse_args(argv)
    written = write(args.figures, args.out)
    if not written:
        print(f"{args.figures}: none of the figures found (is it gnome-help/C/figures?)", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(written)} screenshots", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

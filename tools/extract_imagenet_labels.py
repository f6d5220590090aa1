#!/usr/bin/env python3
"""Writes assets/imagenet_classes.tsv: the 1000 ImageNet-1k classes in model output order.

The names come from the `timm` package (its `timm/data/_info/imagenet_synsets.txt` and
`imagenet_synset_to_lemma.txt`, read through `timm.data.ImageNetInfo`), so nobody types them.
Keras, TF-Slim, torchvision and timm all order the 1000 classes by sorted WordNet id, which is
the order of that file, so one list serves every converted model.

    tools/.venv/bin/python tools/extract_imagenet_labels.py assets/imagenet_classes.tsv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .tsv file to write")
    args = parser.parse_args(argv)

    import timm
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    n = info.num_classes()
    if n != 1000:
        print(f"timm {timm.__version__} lists {n} ImageNet-1k classes, expected 1000", file=sys.stderr)
        return 1
    rows = [(info.index_to_label_name(i), info.index_to_description(i)) for i in range(n)]
    synsets = [s for s, _ in rows]
    if synsets != sorted(synsets) or len(set(synsets)) != n:
        print("the synsets are not unique and sorted; the class order would be wrong", file=sys.stderr)
        return 1
    lines = [
        f"# ImageNet-1k classes in output order: WordNet id <TAB> name. Extracted from timm=={timm.__version__}",
        "# (timm/data/_info/imagenet_synsets.txt + imagenet_synset_to_lemma.txt) by tools/extract_imagenet_labels.py.",
    ]
    lines += [f"{s}\t{name}" for s, name in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {n} classes from timm {timm.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The licence of a repository, as an SPDX id, from the licence file in its newest tree.

An `SPDX-License-Identifier:` line wins. Otherwise the text is matched against phrases that
only the common licences contain. Anything else is `NOASSERTION` (the SPDX word for "not
determined"), which `--licenses` never allows unless it is listed. A repository with several
licence files (`LICENSE-MIT` and `LICENSE-APACHE`) records them joined with AND, so an
allowlist must allow each. The licence recorded is the repository's current one; a project
that changed licence carries its newest.
"""

from __future__ import annotations

import re

NOASSERTION = "NOASSERTION"
# LICENSE, LICENCE.md, COPYING, UNLICENSE, MIT-LICENSE, LICENSE-APACHE, LICENSE.txt, ...
LICENCE_FILE = re.compile(r"^([a-z0-9.]+[-_])?(licen[cs]e|copying|unlicense)([-_.][a-z0-9.]+)?$", re.IGNORECASE)
MAX_LICENCE_BYTES = 256_000

# (SPDX id, phrases that must all appear in the lower-cased, whitespace-collapsed text). Order
# matters: more specific licences come before those whose phrases they also contain.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AGPL-3.0", ("gnu affero general public license", "version 3")),
    ("LGPL-3.0", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", ("gnu lesser general public license", "version 2.1")),
    ("LGPL-2.0", ("gnu library general public license", "version 2")),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("GPL-2.0", ("gnu general public license", "version 2")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("EPL-2.0", ("eclipse public license", "2.0")),
    ("EPL-1.0", ("eclipse public license", "1.0")),
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("BSL-1.0", ("boost software license",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("CC0-1.0", ("cc0 1.0 universal",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("ISC", ("permission to use, copy, modify, and distribute this software for any purpose",
             "the software is provided \"as is\" and the author disclaims")),
    ("MIT", ("permission is hereby granted, free of charge",)),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "may not be used to endorse")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
    ("Zlib", ("this software is provided 'as-is'", "altered source versions must be plainly marked")),
    ("Ruby", ("you can redistribute it and/or modify it under either the terms of the 2-clause bsdl",)),
    ("PSF-2.0", ("python software foundation license",)),
)
_SPDX_LINE = re.compile(r"spdx-license-identifier:\s*([A-Za-z0-9.+-]+(?:\s+(?:OR|AND|WITH)\s+[A-Za-z0-9.+-]+)*)",
                        re.IGNORECASE)


def detect_licence(text: str) -> str:
    spdx = _SPDX_LINE.search(text)
    if spdx:
        return spdx.group(1).strip()
    flat = re.sub(r"\s+", " ", text.lower())
    flat = flat.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
    for spdx_id, phrases in _RULES:
        if all(phrase in flat for phrase in phrases):
            return spdx_id
    return NOASSERTION


def is_licence_file(name: str) -> bool:
    return LICENCE_FILE.match(name) is not None


def allowed(licence: str, allowlist: list[str]) -> bool:
    """Whether a repository under `licence` passes `--licenses` (case-insensitive; empty list allows all).

    An SPDX expression with OR passes when any of its terms is allowed; with AND, when all are;
    a `WITH` exception is judged by the licence it amends.
    """
    if not allowlist:
        return True
    wanted = {item.lower() for item in allowlist}

    def term_ok(term: str) -> bool:
        return re.split(r"\s+with\s+", term.strip(), flags=re.IGNORECASE)[0].strip("() ").lower() in wanted

    if re.search(r"\s+or\s+", licence, flags=re.IGNORECASE):
        return any(term_ok(part) for part in re.split(r"\s+or\s+", licence, flags=re.IGNORECASE))
    return all(term_ok(part) for part in re.split(r"\s+and\s+", licence, flags=re.IGNORECASE))

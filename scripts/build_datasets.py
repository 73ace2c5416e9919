"""Build the built-in QA families into ``data/*.jsonl``, reproducibly (same packages in, same bytes out).

    python scripts/build_datasets.py [OUT_DIR]

Families, by difficulty for a 135M model:
- ``arithmetic``: seeded additions, subtractions and multiplications, from one-digit sums (easy) to
  two-digit products (hard).
- ``capitals``: the capital of each country or territory in ``countryinfo``, cleaned (famous countries
  are easy, small territories hard).
- ``elements``: chemical symbol, atomic number and name-from-number for the 118 elements of
  ``periodictable`` (hydrogen easy, oganesson hard).

The output depends only on the code below and the versions of ``countryinfo`` and ``periodictable``;
the test suite checks that the committed files equal a fresh build.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from workbench.datasets.items import QAItem  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data"

# ---------------------------------------------------------------------------------------------- capitals

# countryinfo entries left out, with why.
DROP_COUNTRIES: dict[str, str] = {
    "Antarctica": "no capital",
    "Bouvet Island": "no capital",
    "Heard Island and McDonald Islands": "no capital",
    "Macau": "no capital",
    "United States Minor Outlying Islands": "no capital",
    "Wales": "no capital, no data",
    "Scotland": "not in ISO 3166, no data",
    "Antilles néerlandaises": "dissolved in 2010",
    "Serbia and Montenegro": "dissolved in 2006",
    "Burma": "duplicate of Myanmar",
    "Vatican City State": "duplicate of the Holy See",
    "Palestine": "capital disputed",
    "Palestine, State of": "duplicate of Palestine, capital disputed",
    "Hong Kong": "no capital city (Victoria is a historical name)",
    "Bonaire, Sint Eustatius and Saba": "three capitals",
    "Tokelau": "capital rotates between atolls",
}

# Display names for the question where countryinfo's name reads badly.
COUNTRY_NAMES: dict[str, str] = {
    "Holy See (Vatican City State)": "Vatican City",
    "Republic of Macedonia": "North Macedonia",
    "Swaziland": "Eswatini",
    "Virgin Islands, British": "the British Virgin Islands",
    "Virgin Islands, U.S.": "the United States Virgin Islands",
    "Saint Martin (French part)": "Saint Martin",
    "Sint Maarten (Dutch part)": "Sint Maarten",
    "The Bahamas": "the Bahamas",
    "The Gambia": "the Gambia",
}
# Names read with "the" (besides those ending in Islands, Republic, States, ... or containing " of ").
THE_NAMES = frozenset({"Netherlands", "Philippines", "Maldives", "Comoros", "Seychelles", "United Kingdom"})
THE_ENDINGS = ("Islands", "Republic", "States", "Lands", "Territory", "Emirates")

# Gold capital where countryinfo's is out of date or malformed, then further accepted answers: other
# official capitals or seats of government, and common English spellings.
CAPITAL_FIXES: dict[str, str] = {
    "Kazakhstan": "Astana",  # renamed back from Nur-Sultan in 2022
    "Holy See (Vatican City State)": "Vatican City",
    "Swaziland": "Mbabane",  # executive capital; Lobamba is the legislative one
    "Sri Lanka": "Sri Jayawardenepura Kotte",
    "French Polynesia": "Papeete",
}
CAPITAL_ALIASES: dict[str, tuple[str, ...]] = {
    "Kazakhstan": ("Nur-Sultan",),
    "Swaziland": ("Lobamba",),
    "Sri Lanka": ("Kotte", "Colombo"),
    "Bolivia": ("La Paz",),
    "South Africa": ("Cape Town", "Bloemfontein"),
    "Benin": ("Cotonou",),
    "Ivory Coast": ("Abidjan",),
    "Netherlands": ("The Hague",),
    "Malaysia": ("Putrajaya",),
    "Montserrat": ("Brades",),
    "Kiribati": ("Tarawa",),
    "United States": ("Washington", "Washington, D.C."),
    "Ukraine": ("Kiev",),
    "Mongolia": ("Ulan Bator",),
    "Myanmar": ("Nay Pyi Taw", "Naypyitaw"),
    "Switzerland": ("Berne",),
    "Western Sahara": ("Laayoune",),
    "San Marino": ("San Marino",),
}


def capitals() -> list[QAItem]:
    """"What is the capital of X?" for each cleaned countryinfo entry, id ``capitals/<ISO alpha-3>``."""
    from countryinfo import CountryInfo

    items = []
    for entry in sorted(CountryInfo.all().values(), key=lambda e: e["name"]):
        name = entry["name"]
        if name in DROP_COUNTRIES:
            continue
        capital = CAPITAL_FIXES.get(name, entry.get("capital"))
        if not isinstance(capital, str) or not capital.strip():
            raise SystemExit(f"countryinfo entry {name!r} has no capital: add it to DROP_COUNTRIES or CAPITAL_FIXES")
        aliases = (capital, *CAPITAL_ALIASES.get(name, ()), *_saint_variants(capital))
        items.append(QAItem(
            item_id=f"capitals/{entry['ISO']['alpha3']}",
            question=f"What is the capital of {_display_name(name)}?",
            answer=capital,
            aliases=tuple(dict.fromkeys(aliases)),
            family="capitals",
            source="builtin",
        ))
    return items


def _display_name(name: str) -> str:
    if name in COUNTRY_NAMES:
        return COUNTRY_NAMES[name]
    if name in THE_NAMES or name.endswith(THE_ENDINGS) or " of " in name:
        return f"the {name}"
    return name


def _saint_variants(capital: str) -> tuple[str, ...]:
    """"St. George's" for "Saint George's" and the other way round."""
    if capital.startswith("Saint "):
        return ("St. " + capital.removeprefix("Saint "),)
    if capital.startswith("St. "):
        return ("Saint " + capital.removeprefix("St. "),)
    return ()


# ---------------------------------------------------------------------------------------------- elements

# British spellings accepted beside periodictable's American ones.
ELEMENT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "aluminum": ("Aluminium",),
    "cesium": ("Caesium",),
    "sulfur": ("Sulphur",),
}


def elements() -> list[QAItem]:
    """Three questions per element: its symbol, its atomic number, and its name from its number."""
    import periodictable

    items = []
    for element in sorted(periodictable.elements, key=lambda e: e.number):
        if element.number < 1:
            continue  # the free neutron
        name, number = element.name.capitalize(), element.number
        names = (name, *ELEMENT_SPELLINGS.get(element.name, ()))
        questions = (
            ("symbol", f"What is the chemical symbol for {element.name}?", element.symbol, (element.symbol,)),
            ("number", f"What is the atomic number of {element.name}?", str(number), (str(number),)),
            ("name", f"Which chemical element has atomic number {number}?", name, names),
        )
        for kind, question, answer, aliases in questions:
            items.append(QAItem(
                item_id=f"elements/{kind}/{number:03d}",
                question=question,
                answer=answer,
                aliases=aliases,
                family="elements",
                source="builtin",
            ))
    return items


# -------------------------------------------------------------------------------------------- arithmetic

# level: (count, operator symbol, operation, range of the first operand, range of the second)
ARITHMETIC_LEVELS: dict[str, tuple[int, str, Callable[[int, int], int], range, range]] = {
    "add1": (60, "+", lambda a, b: a + b, range(1, 10), range(1, 10)),
    "add2": (100, "+", lambda a, b: a + b, range(10, 100), range(10, 100)),
    "add3": (100, "+", lambda a, b: a + b, range(100, 1000), range(100, 1000)),
    "sub2": (100, "-", lambda a, b: a - b, range(10, 100), range(10, 100)),
    "mul1": (50, "×", lambda a, b: a * b, range(2, 10), range(2, 10)),
    "mul2": (100, "×", lambda a, b: a * b, range(10, 100), range(2, 10)),
    "mul3": (100, "×", lambda a, b: a * b, range(10, 100), range(10, 100)),
}
ARITHMETIC_SEED = 20240601


def arithmetic() -> list[QAItem]:
    """"What is A op B?" at seven levels of difficulty; distinct problems, non-negative integer answers."""
    items = []
    for level, (count, symbol, operate, first, second) in ARITHMETIC_LEVELS.items():
        rng = random.Random(f"{ARITHMETIC_SEED}/{level}")
        pairs = [(a, b) for a in first for b in second if operate(a, b) >= 0]
        for index, (a, b) in enumerate(rng.sample(pairs, count)):
            answer = str(operate(a, b))
            items.append(QAItem(
                item_id=f"arithmetic/{level}/{index:03d}",
                question=f"What is {a} {symbol} {b}?",
                answer=answer,
                aliases=(answer,),
                family="arithmetic",
                source="builtin",
            ))
    return items


# ---------------------------------------------------------------------------------------------- writing

FAMILIES: dict[str, Callable[[], list[QAItem]]] = {
    "arithmetic": arithmetic,
    "capitals": capitals,
    "elements": elements,
}


def build(out_dir: Path) -> dict[str, int]:
    """Write ``<family>.jsonl`` for every family into ``out_dir``; returns the item count per family."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for family, make in FAMILIES.items():
        items = make()
        ids = [item.item_id for item in items]
        if len(set(ids)) != len(ids):
            raise SystemExit(f"duplicate item ids in {family}; fix the generator")
        lines = (json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in items)
        (out_dir / f"{family}.jsonl").write_text("".join(lines), encoding="utf-8", newline="\n")
        counts[family] = len(items)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """Build into the directory given as the only argument, or into ``data/``."""
    args = list(sys.argv[1:] if argv is None else argv)
    out_dir = Path(args[0]) if args else DEFAULT_OUT
    for family, count in build(out_dir).items():
        print(f"{family}: {count} items -> {out_dir / (family + '.jsonl')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

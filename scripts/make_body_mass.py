"""Write configs/data/body_mass.csv: a penguins-like table whose target, body mass in grams, is in the thousands.

Deterministic (seeded), no download: 340 birds of three species with the
species' typical sizes, a sex, an island, and bill and flipper measurements
that grow with each bird's build; body mass follows the same build plus noise
and is written, like the real measurements, as whole grams rounded to 25 g.
Two more birds have no mass (an empty cell), as in the real table.
Run: python scripts/make_body_mass.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "configs" / "data" / "body_mass.csv"
# species -> (birds, islands, bill length mm, bill depth mm, flipper mm, mass g, extra mass of a male g)
SPECIES = {
    "Adelie": (150, ("Torgersen", "Biscoe", "Dream"), 38.8, 18.3, 190.0, 3700.0, 600.0),
    "Chinstrap": (68, ("Dream",), 48.8, 18.4, 196.0, 3730.0, 400.0),
    "Gentoo": (122, ("Biscoe",), 47.5, 15.0, 217.0, 5080.0, 800.0),
}


def rows(seed: int = 2007) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for species, (n, islands, bill_length, bill_depth, flipper, mass, male_extra) in SPECIES.items():
        male = rng.random(n) < 0.5
        build = rng.normal(0.0, 1.0, n)  # a bird's overall size, shared by every measurement
        sex = np.where(male, 0.5, -0.5)
        for i in range(n):
            out.append(
                {
                    "species": species,
                    "island": islands[rng.integers(len(islands))],
                    "bill_length_mm": round(bill_length + 3.0 * sex[i] + 1.3 * build[i] + rng.normal(0, 1.6), 1),
                    "bill_depth_mm": round(bill_depth + 1.2 * sex[i] + 0.4 * build[i] + rng.normal(0, 0.6), 1),
                    "flipper_length_mm": int(round(flipper + 6.0 * sex[i] + 3.5 * build[i] + rng.normal(0, 3.5))),
                    "sex": "male" if male[i] else "female",
                    "body_mass_g": int(
                        25 * round((mass + male_extra * sex[i] + 260 * build[i] + rng.normal(0, 180)) / 25)
                    ),
                }
            )
    order = rng.permutation(len(out))
    out = [out[i] for i in order]
    # Like the real penguins table, two birds were seen but not weighed: their mass is empty, and dlcli
    # leaves them out with a count (data.target_missing: drop).
    for at in (3, 271):
        out.insert(at, {**out[at], "body_mass_g": ""})
    return out


def main() -> None:
    table = rows()
    with OUT.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    print(f"{OUT}: {len(table)} rows, {sum(not r['body_mass_g'] for r in table)} without a mass")


if __name__ == "__main__":
    main()

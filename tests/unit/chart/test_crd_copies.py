"""The chart ships exactly the CRDs of `crds/` (the source): same files, same bytes.

Helm installs charts/serinus/crds/ on first install; if those copies drifted from crds/, a cluster
installed with the chart would validate Canaries differently from the tested schemas.
"""

from __future__ import annotations

from tests.unit.chart.helm import CHART, ROOT

SOURCE = ROOT / "crds"
COPIES = CHART / "crds"


def test_the_chart_has_a_copy_of_every_crd_and_nothing_else() -> None:
    source = sorted(p.name for p in SOURCE.glob("*.yaml"))
    assert source == ["canaries.serinus.dev.yaml", "metrictemplates.serinus.dev.yaml"]
    assert sorted(p.name for p in COPIES.iterdir()) == source, (
        f"charts/serinus/crds/ must hold exactly {source}: copy them with `cp crds/*.yaml {COPIES}/`"
    )


def test_each_copy_is_byte_identical_to_its_source() -> None:
    for source in sorted(SOURCE.glob("*.yaml")):
        copy = COPIES / source.name
        assert copy.read_bytes() == source.read_bytes(), (
            f"{copy.relative_to(ROOT)} differs from {source.relative_to(ROOT)} (the source): "
            f"run `cp {source.relative_to(ROOT)} {copy.relative_to(ROOT)}`"
        )

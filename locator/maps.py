# TEMP STUB
from dataclasses import dataclass

from markupsafe import Markup

from locator.geo import Datum


@dataclass(frozen=True)
class TileProvider:
    name: str; url: str; attribution: str; datum: Datum
TILE_PROVIDERS = {"osm": TileProvider("osm","https://tile.openstreetmap.org/{z}/{x}/{y}.png","OSM",Datum.WGS84)}
@dataclass(frozen=True)
class MapParts:
    header: Markup; html: Markup; script: Markup
def nearest_map(*a, **k): return MapParts(Markup(""),Markup(""),Markup(""))
def overview_map(*a, **k): return MapParts(Markup(""),Markup(""),Markup(""))

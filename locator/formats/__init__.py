"""Files in and out: readers, bulk files, GeoJSON serialisation, maps (the only Folium user), snippets."""

"""What jobs write for people: image grids and PNGs, run provenance."""

"""Records (docs/records.md): ``schema`` (the fields and ``validate``), ``assemble`` (the one
constructor), ``store`` (the JSON Lines store), ``sources`` (records from stores and from
pytest-benchmark JSON files)."""

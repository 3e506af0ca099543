"""The bundled benchmark's YAML files (one per language); read them with `themis_rm.data.builtin_loader`."""

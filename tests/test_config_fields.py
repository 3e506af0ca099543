import pytest

from themis_rm.config_fields import known_fields


def test_dashes_read_as_underscores_and_unknown_fields_are_named():
    assert known_fields({"max-length": 3, "seed": 1}, ["max_length", "seed"], "f.yaml") == {"max_length": 3, "seed": 1}
    with pytest.raises(ValueError, match=r"f\.yaml: unknown field\(s\) colour; allowed: max_length, seed"):
        known_fields({"colour": 1}, ["max_length", "seed"], "f.yaml")
    with pytest.raises(ValueError, match=r"f\.yaml must be a mapping"):
        known_fields([1, 2], ["seed"], "f.yaml")

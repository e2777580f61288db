"""The message catalog: every sentence exists in every language."""

from flows.messages import CATALOG, DEFAULT_LANG


def test_every_language_has_the_same_keys() -> None:
    keys = set(CATALOG[DEFAULT_LANG])
    for lang, catalog in CATALOG.items():
        assert set(catalog) == keys, lang

"""Parse untrusted XML without entity expansion: any DOCTYPE (and so any entity declaration, the
door to "billion laughs" and external-entity attacks) is refused, as defusedxml's
``forbid_dtd`` does. Built on the stdlib expat parser feeding an ElementTree builder."""

from __future__ import annotations

import xml.parsers.expat
from typing import Any
from xml.etree.ElementTree import Element, TreeBuilder


class UnsafeXmlError(ValueError):
    """The document declares a DTD or entities, or is not well-formed."""


def _refuse(*_args: Any) -> None:
    raise UnsafeXmlError("DTDs and entity declarations are not accepted")


def parse_xml(data: bytes | str) -> Element:
    """The root element of ``data``. Element tags use ``{namespace}local`` names like ElementTree."""
    builder = TreeBuilder()
    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]

    def start(tag: str, attributes: dict[str, str]) -> None:
        builder.start(_clark(tag), {_clark(name): value for name, value in attributes.items()})

    def end(tag: str) -> None:
        builder.end(_clark(tag))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise UnsafeXmlError(f"not well-formed XML: {exc}") from None
    return builder.close()


def _clark(name: str) -> str:
    # expat gives "namespace}local"; ElementTree's Clark notation is "{namespace}local".
    return "{" + name if "}" in name else name


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find_all_local(root: Element, name: str) -> list[Element]:
    """Every descendant (or the root) whose local name is ``name``, whatever its namespace."""
    return [element for element in root.iter() if local_name(element.tag) == name]

"""A CycloneDX 1.6 SBOM (JSON) of one environment, modelled with ``cyclonedx-python-lib``.

What a compliance team asks of an environment, answered from the catalog without running anything:

- ``metadata``: the request (id, title, who asked) and the target (OS, architecture, Python) as the
  component the BOM describes; curate as the tool; the timestamp is the newest day a package in it
  was vetted (or the request's date): data, not the clock, so the same catalog gives the same bytes.
- ``components``: one library per package, with its purl (``pkg:pypi/name@version?file_name=...``: the
  one file this target installs), the file's SHA-256, the licence vetting found (an SPDX id or
  expression), the file's URL and the project's home page, and properties for the vetting outcome:
  ``curate:vetting:status`` (pass or warn), ``curate:vetting:vetted`` (the day), ``curate:vetting:policy``
  (the digest of the policy it was judged by), ``curate:vetting:known-vulnerabilities`` (``not checked``
  or ``checked (SOURCE)``: an SBOM without vulnerabilities says none were found only when advisories
  were looked up) and ``curate:finding`` (every finding that is not an advisory: kind, id, the policy's
  decision and the message).
- ``vulnerabilities``: every advisory vetting found on a package in it (an environment with a blocking
  one is not written at all): its id, aliases, severity, fix, the component it affects, and the
  decision: ``waived`` (``analysis``: will not fix, until the waiver's expiry, with its justification)
  or ``warn`` (the policy serves it with a warning).
- ``dependencies``: the environment on the packages the request asks for, each package on its own.

The library models every part (:meth:`SbomRenderer.bom` is the whole BOM as the library builds and
serialises it). A build writes thousands of SBOMs in which the same package recurs, and the library
takes ~50 ms to build and serialise each BOM: :meth:`SbomRenderer.render` serialises each distinct
file's component and advisories once through the library, the metadata's timestamp and tool once per
day, the environment's own component once per target (with the request's id, title and requester put
in: :meth:`SbomRenderer._root_text`; each template kept as its JSON text cut at the placeholders,
:class:`_Text`), and joins those JSON texts (``tests/test_environments.py`` checks
it equals the library's own output of the whole BOM, and validates the SBOMs with the library's JSON
schema validator). Each distinct licence text is parsed by the library once. Each component's JSON is
kept in curate's file cache between builds, keyed by a hash of everything it is made of (the file, its
vetting record's parts, its URL; the store is per library version): a rebuild makes only new files'
components.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.exception.model import InvalidUriException
from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisResponse
from cyclonedx.model.tool import ToolRepository
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema.schema import SchemaVersion1Dot6
from packageurl import PackageURL

from curate.atomic import atomic_write
from curate.vetting import Finding, vulnerability_status

if TYPE_CHECKING:
    from pathlib import Path

    from curate.environments import Environment, EnvPackage, Locations
    from curate.requests import Request

SCHEMA_VERSION = SchemaVersion.V1_6
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
ROOT_REF = "environment"
# the components kept in the file cache are the library's JSON: a new library version (or a change here
# to what a component is made of: bump COMPONENT_FORMAT) starts a new store
LIBRARY_VERSION = importlib.metadata.version("cyclonedx-python-lib")
COMPONENT_FORMAT = 1
STORE_DIR = "sbom"  # under the file cache
_SEVERITIES = {
    "critical": VulnerabilitySeverity.CRITICAL,
    "high": VulnerabilitySeverity.HIGH,
    "moderate": VulnerabilitySeverity.MEDIUM,
    "medium": VulnerabilitySeverity.MEDIUM,
    "low": VulnerabilitySeverity.LOW,
}
_SOURCES = {"GHSA": "GitHub Advisory Database", "PYSEC": "PyPA Advisory Database", "CVE": "NVD"}


def purl(pkg: EnvPackage) -> PackageURL:
    return PackageURL(
        type="pypi",
        name=pkg.normalized,
        version=pkg.version.version,
        qualifiers={"file_name": pkg.file.filename},
    )


def _uri(text: str) -> XsUri | None:
    try:
        return XsUri(text)
    except InvalidUriException:
        return None


def _source(advisory_id: str) -> VulnerabilitySource:
    prefix = advisory_id.split("-", 1)[0].upper()
    return VulnerabilitySource(
        name=_SOURCES.get(prefix, "OSV"),
        url=_uri(f"https://osv.dev/vulnerability/{quote(advisory_id, safe='')}"),
    )


def _ratings(severity: str) -> list[VulnerabilityRating]:
    text = severity.strip()
    if text.upper().startswith("CVSS:"):
        return [VulnerabilityRating(method=VulnerabilityScoreSource.get_from_vector(text), vector=text)]
    found = _SEVERITIES.get(text.lower())
    return [VulnerabilityRating(severity=found)] if found is not None else []


def _finding_text(f: Finding) -> str:
    text = f"{f.kind} {f.id} ({f.decision})"
    if f.message:
        text += f": {f.message}"
    if f.waiver is not None:
        text += f"; waived until {f.waiver.expires.isoformat()}: {f.waiver.justification}"
    return text


def _as_json(model: Any) -> Any:
    """One model object as the library serialises it inside a 1.6 BOM."""
    return json.loads(model.as_json(view_=SchemaVersion1Dot6))


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


# ``_dumps`` of a string: what json.dumps calls for one with ensure_ascii=False (without making an
# encoder per call)
_string: Callable[[str], str] = json.encoder.encode_basestring


def _is_component_of(text: str, inputs: dict[str, Any]) -> bool:
    """Whether a component's JSON from the file cache (CI's, restored: not trusted with what an SBOM
    says) names the file ``inputs`` describe: one JSON object with its name, version, purl, sha256, the
    URLs it is downloaded from and its home page's, its description and properties (the vetting status
    among them). Its licences are not checked."""
    try:
        component = json.loads(text)
    except ValueError:
        return False
    if not isinstance(component, dict):
        return False
    try:
        return _names_the_file(component, inputs)
    except (AttributeError, TypeError):  # not the library's JSON
        return False


def _names_the_file(component: dict[str, Any], inputs: dict[str, Any]) -> bool:
    download, home = _uri(inputs["download"]), inputs["home"]
    site = _uri(home) if home.startswith(("https://", "http://")) else None
    references = component.get("externalReferences", [])
    properties = component.get("properties", [])
    return (
        component.get("type") == "library"
        and component.get("name") == inputs["name"]
        and component.get("version") == inputs["version"]
        and component.get("bom-ref") == inputs["ref"]
        and component.get("purl") == inputs["ref"]
        and component.get("hashes") == [{"alg": "SHA-256", "content": inputs["sha256"]}]
        and [(r.get("type"), r.get("url")) for r in references]
        == [
            (kind, str(uri))
            for kind, uri in (("distribution", download), ("website", site))
            if uri is not None
        ]
        and component.get("description") == (inputs["description"] or None)
        and isinstance(properties, list)
        and sorted((p.get("name"), p.get("value")) for p in properties)
        == sorted((n, v) for n, v in inputs["properties"])
    )


# placeholders in the root component's template (SbomRenderer._root_text): no request says these
_SLOT_NAME = "\x00curate:slot:name\x00"
_SLOT_DESCRIPTION = "\x00curate:slot:description\x00"
_SLOT_REQUESTED_BY = "\x00curate:slot:requested-by\x00"


def _fill(template: Any, values: dict[str, str]) -> Any:
    """``template`` (JSON data) with each string that is a key of ``values`` replaced by its value."""
    if isinstance(template, str):
        return values.get(template, template)
    if isinstance(template, list):
        return [_fill(x, values) for x in template]
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


def _is_slot(text: str) -> bool:
    """Whether ``text`` is (or could be) a placeholder: every key of the values templates are filled with."""
    return text.startswith("\x00curate:slot:") or text in (_SLOT_PURL, _SLOT_DOWNLOAD, _SLOT_HOME)


class _Text:
    """A template's JSON text as :func:`_dumps` writes it, cut at each string that may be a placeholder
    (:func:`_is_slot`): :meth:`fill` is ``_dumps(_fill(template, values))``, without walking the data.
    json.dumps writes a list or an object as its items' texts joined (``[a,b]``, ``{"k":v}``: no
    spaces, keys in order), so each value's text can be put in on its own
    (``tests/test_environments.py`` compares the two for hostile values)."""

    def __init__(self, template: Any) -> None:
        texts: list[str] = [""]
        slots: list[str] = []

        def walk(data: Any) -> None:
            if isinstance(data, str) and _is_slot(data):
                slots.append(data)
                texts.append("")
            elif isinstance(data, list) and data:
                texts[-1] += "["
                for i, item in enumerate(data):
                    if i:
                        texts[-1] += ","
                    walk(item)
                texts[-1] += "]"
            elif isinstance(data, dict) and data:
                texts[-1] += "{"
                for i, (key, item) in enumerate(data.items()):
                    texts[-1] += ("," if i else "") + _dumps(key) + ":"
                    walk(item)
                texts[-1] += "}"
            else:
                texts[-1] += _dumps(data)

        walk(template)
        self.texts = texts
        self.slots = slots

    def fill(self, values: dict[str, str]) -> str:
        texts = self.texts
        out = [texts[0]]
        for i, slot in enumerate(self.slots, 1):
            out.append(_string(values.get(slot, slot)))
            out.append(texts[i])
        return "".join(out)


# placeholders in a component's template (SbomRenderer._component_json)
_SLOT_PURL_NAME = "curate-slot-purl"
_SLOT_PURL = f"pkg:pypi/{_SLOT_PURL_NAME}"
_SLOT_DOWNLOAD = "https://slot.invalid/download"
_SLOT_HOME = "https://slot.invalid/home"


def _component_slots(
    inputs: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any], dict[str, str]] | None:
    """A component's *shape*, its inputs with a placeholder for each value, and the value each
    placeholder stands for; None when a value does not fit one (the library serialises it then).

    The library writes each string value as it is given (a URL as :class:`XsUri` makes it: the value
    put in is ``str(XsUri(url))``; the purl as its ``to_string``), in a place that depends only on
    the shape: the JSON keys are in a fixed order and each list but one has its order fixed by the
    shape (one hash, one licence, external references ordered by their type, each type at most once).
    Properties are a sorted set, ordered by (name, value): they are put in that order and deduplicated
    here, and the placeholders of one name sort in the same order (``\x00...NNNN``). The licence
    text stays in the shape (the library parses it: an id, a name or an expression). An empty value
    (which the library may leave out) or one with a NUL (a placeholder's mark) does not fit."""
    download, home = _uri(inputs["download"]), inputs["home"]
    site = _uri(home) if home.startswith(("https://", "http://")) else None
    properties = sorted(set(inputs["properties"]))
    strings = [inputs["name"], inputs["version"], inputs["ref"], inputs["sha256"]]
    strings += [x for pair in properties for x in pair]
    if not all(strings) or any("\x00" in x for x in (*strings, inputs["description"], inputs["license"])):
        return None
    if len(properties) > 9999:  # the placeholders' numbers have four digits (they sort as text)
        return None
    # text kept in the template as it is must not read as a placeholder without a NUL (_fill would
    # replace it): the library serialises such a component itself
    if {inputs["license"], *(n for n, _ in properties)} & {_SLOT_PURL, _SLOT_DOWNLOAD, _SLOT_HOME}:
        return None
    values = {
        _SLOT_NAME: inputs["name"],
        "\x00curate:slot:version\x00": inputs["version"],
        "\x00curate:slot:ref\x00": inputs["ref"],
        "\x00curate:slot:sha256\x00": inputs["sha256"],
    }
    slotted = {
        "name": _SLOT_NAME,
        "version": "\x00curate:slot:version\x00",
        "ref": "\x00curate:slot:ref\x00",
        "sha256": "\x00curate:slot:sha256\x00",
        "license": inputs["license"],
        "download": _SLOT_DOWNLOAD if download is not None else "",
        "home": _SLOT_HOME if site is not None else "",
        "description": _SLOT_DESCRIPTION if inputs["description"] else "",
        "properties": [(n, f"\x00curate:slot:property:{i:04d}\x00") for i, (n, _) in enumerate(properties)],
    }
    if download is not None:
        values[_SLOT_DOWNLOAD] = str(download)
    if site is not None:
        values[_SLOT_HOME] = str(site)
    if inputs["description"]:
        values[_SLOT_DESCRIPTION] = inputs["description"]
    for (_, slot), (_, value) in zip(slotted["properties"], properties, strict=True):
        values[slot] = value
    shape = (
        inputs["license"],
        download is not None,
        site is not None,
        bool(inputs["description"]),
        tuple(n for n, _ in properties),
    )
    return shape, slotted, values


@dataclasses.dataclass(frozen=True, slots=True)
class _Part:
    """A component or an advisory: its JSON text as the library writes it, and where the library puts it
    among the others (components by name, version and bom-ref; advisories by id and bom-ref)."""

    order: tuple[str, ...]
    text: str


def _order(part: _Part) -> tuple[str, ...]:
    return part.order


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Package:
    """What an SBOM says of one package (:meth:`SbomRenderer._package`), with the objects it was made
    from (kept alive: it is looked up by their identity)."""

    version: object
    file: object
    built: object
    project: object
    ref: str
    ref_json: str  # the ref's JSON text
    component: _Part
    vulnerabilities: tuple[_Part, ...]


def _by_ref(package: _Package) -> str:
    return package.ref


def _first(item: tuple[str, str, list[_Package]]) -> str:
    return item[0]


# the SBOM's head as _dumps writes it, up to its serial number's value
_HEAD = _dumps(
    {
        "$schema": SCHEMA_URI,
        "bomFormat": "CycloneDX",
        "specVersion": SCHEMA_VERSION.to_version(),
        "serialNumber": "",
    }
)[: -len('""}')]


class SbomRenderer:
    """Builds the SBOM of environments rendered with the same :class:`Locations`; caches per file.

    ``cache``: curate's file cache, where each file's component JSON is kept between builds
    (``sbom/components-<format>-<library version>.json``, keyed by the sha256 of everything the component is made
    of), so a rebuild of an unchanged catalog has the library build and serialise no component again;
    :meth:`save` writes what this build used."""

    def __init__(
        self,
        locations: Locations,
        *,
        tool_version: str,
        show_requesters: bool = False,
        cache: Path | None = None,
    ) -> None:
        self.locations = locations
        self.tool_version = tool_version
        self.show_requesters = show_requesters  # site.show_requesters: who asked, only when published
        self._licenses = LicenseFactory()
        self._license_models: dict[str, Any] = {}  # the library's licence of each text, parsed once
        self._roots: dict[tuple[str, bool], Any] = {}  # the root component's JSON per target (templates)
        self._templates: dict[tuple[Any, ...], Any] = {}  # a component's JSON per shape (templates)
        self._refs: dict[tuple[str, ...], str] = {}
        self._components: dict[tuple[str, ...], _Part] = {}
        self._vulnerabilities: dict[tuple[str, ...], list[_Part]] = {}
        self._stamps: dict[dt.date, str] = {}  # the metadata but its component, per day
        self._packages: dict[tuple[int, int, int, int], _Package] = {}
        self._by_package: dict[int, tuple[EnvPackage, _Package]] = {}  # (kept alive here)
        self._store = (
            cache / STORE_DIR / f"components-{COMPONENT_FORMAT}-{LIBRARY_VERSION}.json"
            if cache is not None
            else None
        )
        self._stored: dict[str, str] = {}
        self._used: dict[str, str] = {}
        if self._store is not None:
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(self._store.read_bytes())
                if isinstance(data, dict):
                    self._stored = {k: v for k, v in data.items() if isinstance(v, str)}

    def save(self) -> None:
        """Keep the components this build used in the file cache (only those: it does not grow)."""
        if self._store is None or self._used == self._stored:
            return
        with contextlib.suppress(OSError):
            self._store.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self._store, _dumps(dict(sorted(self._used.items()))))

    # -- the parts -------------------------------------------------------------------------------------

    @staticmethod
    def _key(pkg: EnvPackage) -> tuple[str, ...]:
        return (pkg.normalized, pkg.version.version, pkg.file.filename, pkg.file.sha256)

    def _ref(self, pkg: EnvPackage) -> str:
        key = self._key(pkg)
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = purl(pkg).to_string()
        return ref

    def _component_inputs(self, pkg: EnvPackage) -> dict[str, Any]:
        """Everything the file's component is made of, as plain text."""
        record = pkg.version.vetting
        properties: list[tuple[str, str]] = []
        if record is not None:
            properties.append(("curate:vetting:status", record.status))
            if record.vetted is not None:
                properties.append(("curate:vetting:vetted", record.vetted.isoformat()))
            if record.policy:
                properties.append(("curate:vetting:policy", record.policy))
            # whether advisories were looked up at all: no vulnerabilities listed means none found only
            # when they were ("not checked" or "checked (osv-api)", as everywhere vetting is reported)
            properties.append(("curate:vetting:known-vulnerabilities", vulnerability_status(record)))
            properties.extend(
                ("curate:finding", _finding_text(f)) for f in record.findings if f.kind != "vulnerability"
            )
        if pkg.version.yanked is not None:
            properties.append(("curate:yanked", pkg.version.yanked or "yanked"))
        built = pkg.built
        if built is not None:  # a wheel curate wheels built from the version's vetted sdist
            properties.append(("curate:origin", "built"))
            properties.append(("curate:built:from", f"{built.sdist} sha256:{built.sdist_sha256}"))
            properties.extend(
                (f"curate:built:{name}", value)
                for name, value in (
                    ("frontend", built.frontend),
                    ("repair", built.repair),
                    ("builder", built.builder),
                    ("python", built.python),
                    ("build-dependencies", built.build_deps),
                    ("reproducible", built.reproducible),
                )
                if value
            )
        return {
            "name": pkg.name,
            "version": pkg.version.version,
            "ref": self._ref(pkg),
            "sha256": pkg.file.sha256,
            "license": record.license if record is not None and record.license else "",
            "download": self.locations.url(pkg.normalized, pkg.file),
            "home": record.home_page.strip() if record is not None else "",
            "description": record.summary if record is not None and record.summary else "",
            "properties": properties,
        }

    def _component_model(self, pkg: EnvPackage, inputs: dict[str, Any] | None = None) -> Component:
        """The package's file as a library component."""
        i = inputs if inputs is not None else self._component_inputs(pkg)
        licenses = [self._license(i["license"])] if i["license"] else []
        references = []
        download = _uri(i["download"])
        if download is not None:
            references.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=download))
        home = i["home"]
        if home.startswith(("https://", "http://")) and (site := _uri(home)) is not None:
            references.append(ExternalReference(type=ExternalReferenceType.WEBSITE, url=site))
        return Component(
            type=ComponentType.LIBRARY,
            name=i["name"],
            version=i["version"],
            bom_ref=i["ref"],
            purl=purl(pkg),
            description=i["description"] or None,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=i["sha256"])],
            licenses=licenses,
            external_references=references,
            properties=[Property(name=n, value=v) for n, v in i["properties"]],
        )

    def _component_json(self, pkg: EnvPackage, inputs: dict[str, Any]) -> str:
        """The component's JSON as the library serialises it, from the library's serialisation of a
        component of the same *shape* with a placeholder for each value (made once per shape; see
        :func:`_component_slots`); the library's own where a value does not fit a placeholder."""
        found = _component_slots(inputs)
        if found is None:
            return _dumps(_as_json(self._component_model(pkg, inputs)))
        shape, slotted, values = found
        template = self._templates.get(shape)
        if template is None:
            model = self._component_model(pkg, slotted)
            model.purl = PackageURL(type="pypi", name=_SLOT_PURL_NAME)
            template = self._templates[shape] = _Text(_as_json(model))
        values[_SLOT_PURL] = inputs["ref"]  # the purl's to_string, as the bom-ref
        return template.fill(values)  # _dumps(_fill(the library's JSON, values))

    def _license(self, text: str) -> Any:
        """The library's licence for ``text`` (an SPDX id, expression or name), parsed once: parsing an
        expression is most of a component's cost, and a catalog has few distinct licences."""
        found = self._license_models.get(text)
        if found is None:
            found = self._license_models[text] = self._licenses.make_from_string(text)
        return found

    def _component(self, pkg: EnvPackage) -> _Part:
        """The package's file as the library serialises its component (made once per file; kept in the
        file cache between builds)."""
        key = self._key(pkg)
        cached = self._components.get(key)
        if cached is not None:
            return cached
        inputs = self._component_inputs(pkg)
        digest = hashlib.sha256(_dumps(inputs).encode()).hexdigest()
        text = self._stored.get(digest)
        if text is None or not _is_component_of(text, inputs):
            text = self._component_json(pkg, inputs)
        self._used[digest] = text
        cached = self._components[key] = _Part((inputs["name"], inputs["version"], inputs["ref"]), text)
        return cached

    def _vulnerability_models(self, pkg: EnvPackage) -> list[Vulnerability]:
        """The advisories vetting found on the package, as library vulnerabilities affecting its file."""
        out = []
        record = pkg.version.vetting
        ref = self._ref(pkg)
        for f in record.findings if record is not None else ():
            if f.kind != "vulnerability":
                continue
            if f.decision == "waived" and f.waiver is not None:
                analysis = VulnerabilityAnalysis(
                    responses=[ImpactAnalysisResponse.WILL_NOT_FIX],
                    detail=f"Waived until {f.waiver.expires.isoformat()}: {f.waiver.justification}",
                )
            else:
                analysis = VulnerabilityAnalysis(
                    detail=f"Decision: {f.decision} (the catalog's vetting policy serves this version)"
                )
            properties = [Property(name="curate:decision", value=f.decision)]
            if f.waiver is not None:
                properties.append(Property(name="curate:waiver:expires", value=f.waiver.expires.isoformat()))
            vulnerability = Vulnerability(
                bom_ref=f"{f.id}|{ref}",
                id=f.id,
                source=_source(f.id),
                references=[VulnerabilityReference(id=a, source=_source(a)) for a in f.aliases],
                ratings=_ratings(f.severity),
                description=f.message or None,
                recommendation=f"Upgrade to {', '.join(f.fixed)}" if f.fixed else None,
                analysis=analysis,
                affects=[BomTarget(ref=ref)],
                properties=properties,
            )
            out.append(vulnerability)
        return out

    def _vulnerabilities_of(self, pkg: EnvPackage) -> list[_Part]:
        """The package's advisories as the library serialises them (made once per file)."""
        key = self._key(pkg)
        cached = self._vulnerabilities.get(key)
        if cached is None:
            cached = self._vulnerabilities[key] = [
                _Part((v.id or "", v.bom_ref.value or ""), _dumps(_as_json(v)))
                for v in self._vulnerability_models(pkg)
            ]
        return cached

    @staticmethod
    def _day(env: Environment, request: Request) -> dt.date:
        days = [p.version.vetting.vetted for p in env.packages if p.version.vetting is not None]
        return max([d for d in days if d is not None] + [request.date])

    def _root(
        self,
        env: Environment,
        request: Request,
        *,
        name: str | None = None,
        description: str | None = None,
        requested_by: str | None = None,
    ) -> Component:
        """The component the BOM describes: the request on the target (``name``, ``description`` and
        ``requested_by`` instead of the request's own: :meth:`_root_text`'s template)."""
        target = env.target
        properties = [
            Property(name="curate:target", value=target.id),
            Property(name="curate:os", value=target.os),
            Property(name="curate:arch", value=target.platform.arch),
            Property(name="curate:python", value=target.python),
            Property(name="curate:index", value=self.locations.index),
        ]
        if self.show_requesters:
            who = requested_by if requested_by is not None else request.requested_by
            properties.append(Property(name="curate:requested-by", value=who))
        return Component(
            type=ComponentType.APPLICATION,
            name=name if name is not None else request.id,
            bom_ref=ROOT_REF,
            description=description if description is not None else request.title,
            properties=properties,
        )

    def _root_text(self, env: Environment, request: Request) -> str:
        """The root component's JSON text as the library serialises it. Only the request's id, title and requester
        differ between the environments of one target, and the library writes each of them as it is
        given, in a place that does not depend on its value (the properties are ordered by name, and
        each name is there once): so the library serialises one per target with a placeholder for each,
        and each environment's is that with its own values put in (the test that compares a whole SBOM
        with the library's own output covers it). A value the library might leave out (empty) is
        serialised as it is."""
        values = {
            _SLOT_NAME: request.id,
            _SLOT_DESCRIPTION: request.title,
            _SLOT_REQUESTED_BY: request.requested_by if self.show_requesters else "",
        }
        if not request.id or not request.title or (self.show_requesters and not request.requested_by):
            return _dumps(_as_json(self._root(env, request)))
        key = (env.target.id, self.show_requesters)
        template = self._roots.get(key)
        if template is None:
            template = self._roots[key] = _Text(
                _as_json(
                    self._root(
                        env,
                        request,
                        name=_SLOT_NAME,
                        description=_SLOT_DESCRIPTION,
                        requested_by=_SLOT_REQUESTED_BY,
                    )
                )
            )
        return template.fill(values)

    def _stamp(self, day: dt.date, component: Component | None = None) -> BomMetaData:
        tool = Component(type=ComponentType.APPLICATION, name="curate", version=self.tool_version)
        return BomMetaData(
            timestamp=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC),
            tools=ToolRepository(components=[tool]),
            component=component,
        )

    def _metadata(self, env: Environment, request: Request) -> BomMetaData:
        return self._stamp(self._day(env, request), self._root(env, request))

    def _metadata_text(self, env: Environment, request: Request) -> str:
        """The metadata's JSON as the library writes it: the library serialises the timestamp and the
        tool once per day, and the environment's own component; the library writes ``component`` first
        (its keys are in alphabetical order)."""
        day = self._day(env, request)
        rest = self._stamps.get(day)
        if rest is None:
            rest = self._stamps[day] = _dumps(_as_json(self._stamp(day)))
        root = self._root_text(env, request)
        return '{"component":' + root + "," + rest[1:]

    def _graph(self, env: Environment) -> dict[str, list[str]]:
        """Each bom-ref -> what it depends on: the environment on what the request asks for (on all when
        it names none of them), each package on its dependencies."""
        refs = {p.normalized: self._ref(p) for p in env.packages}
        direct = [refs[p.normalized] for p in env.packages if p.direct] or list(refs.values())
        graph = {ROOT_REF: sorted(direct)}
        for p in env.packages:
            graph[refs[p.normalized]] = sorted(refs[d] for d in p.dependencies)
        return graph

    # -- the document ----------------------------------------------------------------------------------

    def _package(self, pkg: EnvPackage) -> _Package:
        """The package's parts (:meth:`_ref`, :meth:`_component`, :meth:`_vulnerabilities_of`), looked
        up by the identity of its version and file (kept alive here): they recur in many environments."""
        seen = self._by_package.get(id(pkg))  # the plan shares a package between environments
        if seen is not None:
            return seen[1]
        key = (id(pkg.version), id(pkg.file), id(pkg.built), id(pkg.project))
        found = self._packages.get(key)
        if found is None:
            ref = self._ref(pkg)
            found = _Package(
                version=pkg.version,
                file=pkg.file,
                built=pkg.built,
                project=pkg.project,
                ref=ref,
                ref_json=_string(ref),
                component=self._component(pkg),
                vulnerabilities=tuple(self._vulnerabilities_of(pkg)),
            )
            self._packages[key] = found
        self._by_package[id(pkg)] = (pkg, found)
        return found

    def _dependencies_text(self, env: Environment, parts: list[_Package]) -> str:
        """``_dumps`` of the dependencies as :meth:`_graph` gives them (each ``{"ref": ..., "dependsOn":
        [...]}``, sorted by ref; no ``dependsOn`` when empty), from each ref's JSON text made once."""
        refs = {p.normalized: x for p, x in zip(env.packages, parts, strict=True)}
        direct = [x for p, x in zip(env.packages, parts, strict=True) if p.direct] or list(refs.values())
        items = [(ROOT_REF, _dumps(ROOT_REF), sorted(direct, key=_by_ref))]
        items.extend(
            (x.ref, x.ref_json, sorted((refs[d] for d in p.dependencies), key=_by_ref))
            for p, x in zip(env.packages, parts, strict=True)
        )
        items.sort(key=_first)
        return (
            "["
            + ",".join(
                '{"ref":'
                + ref
                + (',"dependsOn":[' + ",".join(x.ref_json for x in on) + "]" if on else "")
                + "}"
                for _, ref, on in items
            )
            + "]"
        )

    def render(self, env: Environment, request: Request) -> str:
        """The SBOM's JSON text: the library's serialisation of each part, put together (each part is
        JSON the library wrote, so the whole is too), ordered as the library orders them."""
        parts = [self._package(p) for p in env.packages]
        components = sorted((x.component for x in parts), key=_order)
        vulnerabilities = sorted((v for x in parts for v in x.vulnerabilities), key=_order)
        body = [
            '"version":1',
            '"metadata":' + self._metadata_text(env, request),
            '"components":[' + ",".join(c.text for c in components) + "]",
            '"dependencies":' + self._dependencies_text(env, parts),
        ]
        if vulnerabilities:
            body.append('"vulnerabilities":[' + ",".join(v.text for v in vulnerabilities) + "]")
        content = ",".join(body)
        serial = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sha256:" + hashlib.sha256(content.encode()).hexdigest())
        # _dumps({"$schema": ..., "bomFormat": ..., "specVersion": ..., "serialNumber": serial.urn})
        return _HEAD + _dumps(serial.urn) + "," + content + "}\n"

    def document(self, env: Environment, request: Request) -> dict[str, Any]:
        """The SBOM as plain data."""
        doc: dict[str, Any] = json.loads(self.render(env, request))
        return doc

    def bom(self, env: Environment, request: Request) -> Bom:
        """The whole BOM as the library models it (the same content as :meth:`document`)."""
        doc = self.document(env, request)
        by_ref = {self._ref(p): self._component_model(p) for p in env.packages}
        metadata = self._metadata(env, request)
        bom = Bom(
            serial_number=uuid.UUID(doc["serialNumber"].removeprefix("urn:uuid:")),
            metadata=metadata,
            components=list(by_ref.values()),
            vulnerabilities=[v for p in env.packages for v in self._vulnerability_models(p)],
        )
        for ref, on in self._graph(env).items():
            target = metadata.component if ref == ROOT_REF else by_ref[ref]
            assert target is not None
            bom.register_dependency(target, [by_ref[x] for x in on])
        return bom


def library_json(bom: Bom) -> str:
    """The library's own serialisation of a whole BOM (CycloneDX 1.6 JSON)."""
    return JsonV1Dot6(bom).output_as_string()

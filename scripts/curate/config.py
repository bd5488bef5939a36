"""The catalog config, ``catalog/config.yaml``: targets, defaults, upstream, file serving, vetting policy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from curate.codescan import RULE_DECISIONS, RuleDecision, known_rules, rule_decisions
from curate.errors import Problem, ValidationError, display_path
from curate.names import normalize
from curate.targets import OS_ALIASES, OS_NAMES, OSName, Platform, Target, iter_targets
from curate.validate import Reader, hidden_characters, type_name
from curate.vetting import FINDING_KINDS, FindingKind, default_kinds, is_finding_kind
from curate.yamlio import CONFIG_LIMIT, Document, KeyPath, load

if TYPE_CHECKING:
    from curate.httpclient import Limits

CONFIG_PATH = Path("catalog") / "config.yaml"
PYTHON_VERSION = re.compile(r"^3\.(\d{1,2})$")
FilesMode = Literal["mirror", "link"]

_TOP_KEYS = (
    "site",
    "upstream",
    "python",
    "platforms",
    "targets",
    "files",
    "cache_dir",
    "vetting",
    "retention",
    "publish",
    "smoke",
    "build",
)
SmokePolicy = Literal["block", "warn"]
SMOKE_POLICIES: tuple[SmokePolicy, ...] = ("block", "warn")
FromSource = Literal["missing", "pure"]
ServeBuilt = Literal["built", "upstream"]
RetentionRule = Literal["keep", "drop-after", "keep-latest"]
RETENTION_RULES: tuple[RetentionRule, ...] = ("keep", "drop-after", "keep-latest")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Retention:
    """How long a superseded version (one no request needs any more) stays served.

    ``keep`` (the default): until a reviewed ``remove:`` entry takes it out; ``drop-after``: ``days``
    after it was superseded; ``keep-latest``: the ``count`` newest superseded versions of each project.
    """

    rule: RetentionRule = "keep"
    days: int = 0  # drop-after
    count: int = 0  # keep-latest

    def describe(self) -> str:
        if self.rule == "drop-after":
            return f"drop-after: {self.days} days"
        if self.rule == "keep-latest":
            return f"keep-latest: {self.count}"
        return "keep"

    def fingerprint(self) -> str:
        """What the lock state records of it: "" for the default (so older lock states stay current)."""
        return "" if self.rule == "keep" else self.describe()


_SITE_KEYS = ("name", "base_url", "show_requesters", "show_justifications")
PUBLISH_TARGETS = ("pages", "s3", "repository")
PublishTargetName = Literal["pages", "s3", "repository"]
DEFAULT_GRACE = dt.timedelta(days=7)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 86400}
# keys a publish target refuses with a pointer to where credentials go instead
_SECRET_KEYS = frozenset(
    {"username", "user", "login", "password", "token", "secret", "aws_access_key_id", "aws_secret_access_key"}
)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Build:
    """``build:``: what ``curate wheels`` builds from vetted sdists, and which wheel is served.

    ``from_source: missing`` (the default) builds where no upstream wheel serves a target; ``pure`` also
    rebuilds every pure-Python version with an sdist and compares the result with the upstream wheel
    (``wheel-differs-from-sdist``); ``serve`` then says which of the two the index serves.
    ``time_limit``: seconds one build may run.
    """

    from_source: FromSource = "missing"
    serve: ServeBuilt = "upstream"
    time_limit: int = 900


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Waiver:
    """A reviewer's decision to accept a finding for some versions of a project, until a date."""

    id: str  # finding id, e.g. GHSA-xxxx or license-denied
    project: str
    versions: str  # a PEP 440 specifier set; "" means every version
    justification: str
    expires: dt.date

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "versions": self.versions,
            "justification": self.justification,
            "expires": self.expires.isoformat(),
        }

    def covers(self, finding_id: str, project: str, version: str) -> bool:
        """Whether this waiver names the finding id, the project and the version (whatever its expiry)."""
        if self.id != finding_id or normalize(self.project) != normalize(project):
            return False
        if not self.versions:
            return True
        try:
            return SpecifierSet(self.versions).contains(version, prereleases=True)
        except InvalidSpecifier:
            return False


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Vetting:
    license_allow: tuple[str, ...] = ()
    license_deny: tuple[str, ...] = ()
    advisories_source: Literal["none", "osv-dir", "osv-api"] = "none"
    advisories_path: str = ""  # for osv-dir, relative to the repository root
    block: tuple[FindingKind, ...] = default_kinds("block")
    warn: tuple[FindingKind, ...] = default_kinds("warn")
    lookalike_distance: int = 1
    min_release_age_days: int = 7  # the release cooldown (curate.cooldown); 0 = none
    # suspicious-code rules (GuardDog's and curate's own) -> block | warn | off, over codescan.DEFAULT_RULES
    code_rules: tuple[tuple[str, RuleDecision], ...] = ()
    waivers: tuple[Waiver, ...] = ()

    def rule_decisions(self) -> dict[str, RuleDecision]:
        """What the policy does with each suspicious-code rule's matches ("off": the rule does not run)."""
        return rule_decisions(dict(self.code_rules))

    def digest(self) -> str:
        """sha256 of the rules a version is judged by (the waivers are recorded with each finding)."""
        rules = {
            "licenses": {"allow": sorted(self.license_allow), "deny": sorted(self.license_deny)},
            "advisories": self.advisories_source,
            "block": sorted(self.block),
            "warn": sorted(self.warn),
            "lookalike_distance": self.lookalike_distance,
            "min_release_age_days": self.min_release_age_days,
            "code_rules": self.rule_decisions(),
        }
        return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class UpstreamLimits:
    """``upstream:`` bounds on what curate reads from the network; None: curate's default
    (:class:`curate.httpclient.Limits`). A deadline of 0 means none."""

    max_page_bytes: int | None = None
    page_deadline: int | None = None
    download_deadline: int | None = None
    min_speed: int | None = None

    def limits(self) -> Limits:
        """The HTTP client's limits with these settings."""
        from curate.httpclient import Limits

        out = Limits()
        if self.max_page_bytes is not None:
            out = dataclasses.replace(out, max_page_bytes=self.max_page_bytes)
        if self.page_deadline is not None:
            out = dataclasses.replace(out, deadline=float(self.page_deadline) or None)
        if self.download_deadline is not None:
            out = dataclasses.replace(out, download_deadline=float(self.download_deadline) or None)
        if self.min_speed is not None:
            out = dataclasses.replace(out, min_speed=self.min_speed)
        return out


_LIMIT_KEYS = ("max_page_bytes", "page_deadline", "download_deadline", "min_speed")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class S3Target:
    """``publish.s3``: an S3-compatible bucket (credentials from the environment, never from here)."""

    bucket: str
    prefix: str = ""  # key prefix, "" or ending in "/"
    endpoint_url: str | None = None  # R2, MinIO, Ceph: their S3 endpoint; None = AWS
    region: str | None = None
    grace_period: dt.timedelta = DEFAULT_GRACE  # how long a removed object stays before it is deleted
    directory_objects: bool = True  # also store X/index.html as the key "X/" (plain REST endpoints)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RepositoryTarget:
    """``publish.repository``: a hosted PyPI repository of a repository manager (twine upload)."""

    url: str  # the upload URL twine is given
    index_url: str  # its simple index, where curate reads what it already has


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Publish:
    """Where ``curate publish`` puts ``public/``; several targets at once. Default: pages only."""

    pages: bool = True
    s3: S3Target | None = None
    repository: RepositoryTarget | None = None

    @property
    def targets(self) -> tuple[PublishTargetName, ...]:
        out: list[PublishTargetName] = []
        if self.pages:
            out.append("pages")
        if self.s3 is not None:
            out.append("s3")
        if self.repository is not None:
            out.append("repository")
        return tuple(out)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    path: str
    site_name: str
    base_url: str  # where public/ is served, ending in "/"
    index_url: str | None  # upstream simple index; None = the resolver's default
    python_supported: tuple[str, ...]
    python_default: tuple[str, ...]
    platforms_default: tuple[OSName, ...]
    platforms: tuple[Platform, ...]
    files_mode: FilesMode = "mirror"
    files_base_url: str | None = None  # link mode: where files live; None = the upstream URL
    allow_sdist: bool = False
    cache_dir: str | None = None
    vetting: Vetting = dataclasses.field(default_factory=Vetting)
    upstream_limits: UpstreamLimits = dataclasses.field(default_factory=UpstreamLimits)
    retention: Retention = dataclasses.field(default_factory=Retention)
    show_requesters: bool = (
        False  # the site and api/ name who asked (e-mail addresses); the PR report always does
    )
    show_justifications: bool = True  # the site and api/ show why (justification, compliance tags)
    publish: Publish = dataclasses.field(default_factory=Publish)
    smoke_failing_import: SmokePolicy = "block"  # curate smoke: a failed target blocks, or warns
    build: Build = dataclasses.field(default_factory=Build)
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def platforms_for(self, os_names: tuple[str, ...] | list[str]) -> list[Platform]:
        return [p for p in self.platforms if p.os in os_names]

    def targets_for(
        self, os_names: tuple[str, ...] | list[str], pythons: tuple[str, ...] | list[str]
    ) -> list[Target]:
        return list(iter_targets(self.platforms_for(os_names), pythons))

    def all_targets(self) -> list[Target]:
        return list(iter_targets(self.platforms, self.python_supported))

    def target(self, target_id: str) -> Target:
        for t in self.all_targets():
            if t.id == target_id:
                return t
        raise KeyError(target_id)

    @property
    def simple_url(self) -> str:
        return self.base_url + "simple/"

    def http_limits(self) -> Limits:
        """What the HTTP client may read and wait for (``upstream:`` in the config, else the defaults)."""
        return self.upstream_limits.limits()


def load_config(root: Path) -> Config:
    """Read and validate ``catalog/config.yaml`` under ``root``; raise ValidationError on problems."""
    config, problems = read_config(root / CONFIG_PATH, display_path(root / CONFIG_PATH))
    if config is None or problems:
        raise ValidationError(problems)
    return config


def read_config(path: Path, display: str) -> tuple[Config | None, list[Problem]]:
    if not path.exists():
        return None, [
            Problem(
                path=display,
                message="catalog config not found",
                hint="run from the catalog repository's root",
            )
        ]
    doc, problems = load(path, display, limit=CONFIG_LIMIT)
    if doc is None:
        return None, problems
    return parse_config(doc)


def parse_config(doc: Document) -> tuple[Config | None, list[Problem]]:
    r = Reader(doc)
    r.problems.extend(hidden_characters(doc))
    top = r.mapping(doc.data, (), _TOP_KEYS, "the catalog config")

    site = r.mapping(top.get("site", {}), ("site",), _SITE_KEYS, "site")
    site_name = r.string(site.get("name", "Python package catalog"), ("site", "name")) or ""
    base_url = r.string(site.get("base_url", "http://127.0.0.1:8000/"), ("site", "base_url")) or "/"
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", base_url):
        r.add(
            ("site", "base_url"),
            f"base_url must be an http(s) URL, got '{base_url}'",
            "e.g. https://packages.example.com/",
        )
    if not base_url.endswith("/"):
        base_url += "/"
    show_requesters = r.boolean(site.get("show_requesters", False), ("site", "show_requesters"))
    show_justifications = r.boolean(site.get("show_justifications", True), ("site", "show_justifications"))

    index_url: str | None = None
    limits: dict[str, int] = {}
    if "upstream" in top and top["upstream"] is not None:
        up = r.mapping(top["upstream"], ("upstream",), ("index_url", *_LIMIT_KEYS), "upstream")
        for name in _LIMIT_KEYS:
            if up.get(name) is not None:
                got = r.integer(up[name], ("upstream", name), minimum=1 if name == "max_page_bytes" else 0)
                if got is not None:
                    limits[name] = got
        if "index_url" in up and up["index_url"] is not None:
            index_url = r.string(up["index_url"], ("upstream", "index_url"))
            if index_url and not re.match(r"^(https?|file)://\S+$", index_url):
                r.add(
                    ("upstream", "index_url"),
                    f"index_url must be a URL, got '{index_url}'",
                    "e.g. https://upstream.example/simple/",
                )

    py = r.mapping(top.get("python", {}), ("python",), ("supported", "default"), "python")
    supported = _versions(r, py.get("supported", ["3.11", "3.12", "3.13"]), ("python", "supported"))
    default = _versions(r, py.get("default", supported), ("python", "default"))
    for i, v in enumerate(default):
        if supported and v not in supported:
            r.add(
                ("python", "default", i),
                f"default Python {v} is not in python.supported",
                f"supported: {', '.join(supported)}",
            )

    plat = r.mapping(top.get("platforms", {}), ("platforms",), ("default",), "platforms")
    platforms_default = _os_list(r, plat.get("default", ["linux", "windows"]), ("platforms", "default"))

    platforms = _platforms(r, top.get("targets"), ("targets",))
    for os_name in platforms_default:
        if not any(p.os == os_name for p in platforms):
            r.add(("platforms", "default"), f"no target in 'targets' has os '{os_name}'")

    files = r.mapping(top.get("files", {}), ("files",), ("mode", "base_url", "allow_sdist"), "files")
    mode = r.string(files.get("mode", "mirror"), ("files", "mode")) or "mirror"
    mode = r.choice(mode, ("files", "mode"), ("mirror", "link"), "files mode") or "mirror"
    files_base_url = None
    if files.get("base_url") is not None:
        files_base_url = r.string(files["base_url"], ("files", "base_url"))
    allow_sdist = r.boolean(files.get("allow_sdist", False), ("files", "allow_sdist")) or False

    cache_dir = r.string(top["cache_dir"], ("cache_dir",)) if top.get("cache_dir") is not None else None
    vetting = _vetting(r, top.get("vetting", {}), ("vetting",))
    retention = _retention(r, top.get("retention"), ("retention",))
    publish = _publish(r, top["publish"], ("publish",)) if "publish" in top else Publish()
    smoke = r.mapping(top.get("smoke") or {}, ("smoke",), ("failing_import",), "smoke")
    failing = r.string(smoke.get("failing_import", "block"), ("smoke", "failing_import")) or "block"
    failing = r.choice(failing, ("smoke", "failing_import"), SMOKE_POLICIES, "smoke policy") or "block"
    build = _build(r, top.get("build"), ("build",))

    if r.problems:
        return None, r.problems
    return (
        Config(
            path=doc.path,
            site_name=site_name,
            base_url=base_url,
            index_url=index_url,
            python_supported=tuple(supported),
            python_default=tuple(default),
            platforms_default=tuple(platforms_default),
            platforms=tuple(platforms),
            files_mode="link" if mode == "link" else "mirror",
            files_base_url=files_base_url,
            allow_sdist=allow_sdist,
            cache_dir=cache_dir,
            vetting=vetting,
            upstream_limits=UpstreamLimits(**limits),
            retention=retention,
            show_requesters=bool(show_requesters),
            show_justifications=show_justifications is not False,
            publish=publish,
            smoke_failing_import="warn" if failing == "warn" else "block",
            build=build,
            raw=top,
        ),
        [],
    )


def parse_duration(text: str) -> dt.timedelta | None:
    """``7d``, ``36h``, ``90m``, ``30s`` or a bare number of days; None when it is none of those."""
    m = _DURATION.match(text)
    return dt.timedelta(seconds=int(m[1]) * _DURATION_UNITS[m[2]]) if m else None


def _publish(r: Reader, value: Any, key: KeyPath) -> Publish:
    if value is None:
        return Publish(pages=False)
    top = r.mapping(value, key, PUBLISH_TARGETS, "publish")
    s3 = _s3(r, top["s3"], (*key, "s3")) if "s3" in top else None
    repository = _repository(r, top["repository"], (*key, "repository")) if "repository" in top else None
    pages = False
    if "pages" in top:
        p = top["pages"]
        if isinstance(p, bool):
            pages = p
        else:
            r.mapping({} if p is None else p, (*key, "pages"), (), "publish.pages")
            pages = True
    return Publish(pages=pages, s3=s3, repository=repository)


def _target_keys(r: Reader, value: Any, key: KeyPath, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    if isinstance(value, dict):
        for k in value:
            if str(k).lower() in _SECRET_KEYS:
                r.add(
                    (*key, k),
                    f"credentials do not belong in the config (it is committed): remove '{k}'",
                    "see the publish reference: the environment or netrc provides them",
                )
        value = {k: v for k, v in value.items() if str(k).lower() not in _SECRET_KEYS}
    return r.mapping(value, key, allowed, what)


def _url(r: Reader, value: Any, key: KeyPath) -> str | None:
    url = r.string(value, key)
    if url is None:
        return None
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        r.add(
            key, f"expected an http(s) URL, got '{url}'", "e.g. https://repo.example/repository/pypi-hosted/"
        )
        return None
    if "@" in url.split("://", 1)[1].split("/", 1)[0]:
        r.add(
            key,
            "credentials do not belong in the config (it is committed): remove 'user:password@' from the URL",
            "see the publish reference: the environment or netrc provides them",
        )
        return None
    return url


def _s3(r: Reader, value: Any, key: KeyPath) -> S3Target | None:
    allowed = ("bucket", "prefix", "endpoint_url", "region", "grace_period", "directory_objects")
    t = _target_keys(r, value, key, allowed, "publish.s3")
    if not r.require(t, key, "bucket", "publish.s3", "the bucket's name, e.g. bucket: packages-example"):
        return None
    bucket = r.string(t["bucket"], (*key, "bucket"))
    if bucket is not None and not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
        r.add(
            (*key, "bucket"), f"'{bucket}' is not a bucket name (3-63 lower-case letters, digits, '.', '-')"
        )
    prefix = r.string(t.get("prefix", ""), (*key, "prefix"), allow_empty=True) or ""
    prefix = prefix.strip("/")
    if prefix:
        prefix += "/"
    endpoint = _url(r, t["endpoint_url"], (*key, "endpoint_url")) if t.get("endpoint_url") else None
    region = r.string(t["region"], (*key, "region")) if t.get("region") is not None else None
    grace = DEFAULT_GRACE
    if "grace_period" in t:
        raw = t["grace_period"]
        text = (
            str(raw)
            if isinstance(raw, int) and not isinstance(raw, bool)
            else r.string(raw, (*key, "grace_period"))
        )
        if text is not None:
            parsed = parse_duration(text)
            if parsed is None:
                r.add(
                    (*key, "grace_period"),
                    f"grace_period '{text}' is not a duration",
                    "write a number with d, h, m or s: 7d, 36h, 0s",
                )
            else:
                grace = parsed
    directory_objects = r.boolean(t.get("directory_objects", True), (*key, "directory_objects"))
    if bucket is None:
        return None
    return S3Target(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region=region,
        grace_period=grace,
        directory_objects=directory_objects is not False,
    )


def _repository(r: Reader, value: Any, key: KeyPath) -> RepositoryTarget | None:
    t = _target_keys(r, value, key, ("url", "index_url"), "publish.repository")
    if not r.require(t, key, "url", "publish.repository", "the upload URL twine is given"):
        return None
    url = _url(r, t["url"], (*key, "url"))
    index_url = _url(r, t["index_url"], (*key, "index_url")) if t.get("index_url") else None
    if url is None:
        return None
    if index_url is None:
        index_url = url.rstrip("/") + "/simple/"
    elif not index_url.endswith("/"):
        index_url += "/"
    return RepositoryTarget(url=url, index_url=index_url)


def _versions(r: Reader, value: Any, key: KeyPath) -> list[str]:
    if isinstance(value, list):
        items: list[Any] = value
    else:
        items = [value]
    out = []
    for i, v in enumerate(items):
        k = (*key, i) if isinstance(value, list) else key
        if isinstance(v, float):
            text = r.doc.texts.get(k, str(v))
            r.add(
                k,
                f"Python version {text} must be quoted (YAML reads 3.10 as the number 3.1)",
                f'write "{text}"',
            )
            continue
        s = r.string(v, k)
        if s is None:
            continue
        if not PYTHON_VERSION.match(s):
            r.add(k, f"'{s}' is not a Python version like \"3.12\"")
            continue
        out.append(s)
    return out


def _os_list(r: Reader, value: Any, key: KeyPath) -> list[OSName]:
    names = r.string_list(value, key) or []
    out: list[OSName] = []
    for i, n in enumerate(names):
        k = (*key, i) if isinstance(value, list) else key
        got = r.choice(n, k, OS_NAMES, "platform", OS_ALIASES)
        if got is not None:
            out.append(got)  # type: ignore[arg-type]
    return out


def _platforms(r: Reader, value: Any, key: KeyPath) -> list[Platform]:
    if value is None:
        r.add(
            key,
            "missing required field 'targets'",
            "list the OS/arch targets and the wheel platform tags each accepts",
        )
        return []
    if not isinstance(value, dict):
        r.add(key, f"targets must be a mapping of name to target, not {type_name(value)}")
        return []
    out = []
    for name, spec in value.items():
        k = (*key, name)
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", str(name)):
            r.add(k, f"target name '{name}' must be lower-case letters, digits, '-' and '_'")
            continue
        t = r.mapping(spec, k, ("os", "arch", "platform_tags"), f"target '{name}'")
        if not all(r.require(t, k, f, f"target '{name}'") for f in ("os", "arch", "platform_tags")):
            continue
        os_name = r.choice(r.string(t["os"], (*k, "os")) or "", (*k, "os"), OS_NAMES, "os", OS_ALIASES)
        arch = r.string(t["arch"], (*k, "arch"))
        ptags = r.string_list(t["platform_tags"], (*k, "platform_tags"), single_ok=False)
        if os_name is None or arch is None or not ptags:
            if ptags == []:
                r.add((*k, "platform_tags"), "platform_tags must not be empty")
            continue
        out.append(Platform(name=str(name), os=os_name, arch=arch, platform_tags=tuple(ptags)))  # type: ignore[arg-type]
    return out


def _vetting(r: Reader, value: Any, key: KeyPath) -> Vetting:
    v = r.mapping(
        value if value is not None else {},
        key,
        (
            "licenses",
            "advisories",
            "block",
            "warn",
            "lookalike_distance",
            "min_release_age_days",
            "code_rules",
            "waivers",
        ),
        "vetting",
    )
    lic = r.mapping(v.get("licenses", {}), (*key, "licenses"), ("allow", "deny"), "vetting.licenses")
    allow = r.string_list(lic.get("allow", []), (*key, "licenses", "allow"), single_ok=False) or []
    deny = r.string_list(lic.get("deny", []), (*key, "licenses", "deny"), single_ok=False) or []
    adv = r.mapping(v.get("advisories", {}), (*key, "advisories"), ("source", "path"), "vetting.advisories")
    source = r.string(adv.get("source", "none"), (*key, "advisories", "source")) or "none"
    source = (
        r.choice(source, (*key, "advisories", "source"), ("none", "osv-dir", "osv-api"), "advisory source")
        or "none"
    )
    adv_path = r.string(adv.get("path", ""), (*key, "advisories", "path"), allow_empty=True) or ""
    if source == "osv-dir" and not adv_path:
        r.add(
            (*key, "advisories"), "advisories.source osv-dir needs a 'path' to a directory of OSV JSON files"
        )
    defaults = Vetting()
    block = _kinds(r, v.get("block", list(defaults.block)), (*key, "block"))
    warn = _kinds(r, v.get("warn", list(defaults.warn)), (*key, "warn"))
    for kind in set(block) & set(warn):
        r.add((*key, "warn"), f"finding kind '{kind}' is both in block and in warn")
    distance = r.integer(v.get("lookalike_distance", 1), (*key, "lookalike_distance"), minimum=0)
    cooldown = r.integer(
        v.get("min_release_age_days", defaults.min_release_age_days),
        (*key, "min_release_age_days"),
        minimum=0,
    )
    waivers = r.items(v.get("waivers"), (*key, "waivers"), "waivers", lambda item, k: _waiver(r, item, k))
    code_rules = _code_rules(r, v.get("code_rules"), (*key, "code_rules"))
    return Vetting(
        license_allow=tuple(allow),
        license_deny=tuple(deny),
        advisories_source=source,  # type: ignore[arg-type]
        advisories_path=adv_path,
        block=tuple(block),
        warn=tuple(warn),
        lookalike_distance=distance if distance is not None else 1,
        min_release_age_days=cooldown if cooldown is not None else defaults.min_release_age_days,
        code_rules=tuple(sorted(code_rules.items())),
        waivers=tuple(waivers),
    )


_RETENTION_HINT = (
    "write superseded: keep, superseded: {drop-after: 30} (days) or superseded: {keep-latest: 2}"
)


def _build(r: Reader, value: Any, key: KeyPath) -> Build:
    top = r.mapping(value if value is not None else {}, key, ("from_source", "serve", "time_limit"), "build")
    source = r.string(top.get("from_source", "missing"), (*key, "from_source")) or "missing"
    source = r.choice(source, (*key, "from_source"), ("missing", "pure"), "build.from_source") or "missing"
    serve = r.string(top.get("serve", "upstream"), (*key, "serve")) or "upstream"
    serve = r.choice(serve, (*key, "serve"), ("built", "upstream"), "build.serve") or "upstream"
    limit = r.integer(top.get("time_limit", 900), (*key, "time_limit"), minimum=1)
    return Build(
        from_source="pure" if source == "pure" else "missing",
        serve="built" if serve == "built" else "upstream",
        time_limit=limit if limit is not None else 900,
    )


def _retention(r: Reader, value: Any, key: KeyPath) -> Retention:
    top = r.mapping(value if value is not None else {}, key, ("superseded",), "retention")
    rule = top.get("superseded", "keep")
    where = (*key, "superseded")
    if rule is None or rule == "keep":
        return Retention()
    if isinstance(rule, str):
        r.add(where, f"unknown retention rule '{rule}'", _RETENTION_HINT)
        return Retention()
    spec = r.mapping(rule, where, ("drop-after", "keep-latest"), "retention.superseded")
    if not isinstance(rule, dict):
        return Retention()
    if len(spec) != 1:
        r.add(where, "retention.superseded takes one rule", _RETENTION_HINT)
        return Retention()
    ((name, amount),) = spec.items()
    if name == "drop-after":
        if isinstance(amount, str) and re.fullmatch(r"\s*\d+\s*days?\s*", amount):
            amount = int(re.findall(r"\d+", amount)[0])
        days = r.integer(amount, (*where, name), minimum=0)
        return Retention(rule="drop-after", days=days) if days is not None else Retention()
    count = r.integer(amount, (*where, name), minimum=0)
    return Retention(rule="keep-latest", count=count) if count is not None else Retention()


def _code_rules(r: Reader, value: Any, key: KeyPath) -> dict[str, RuleDecision]:
    """``vetting.code_rules``: rule name -> block | warn | off, for rules GuardDog or curate has."""
    if value is None:
        return {}
    known = known_rules()
    rules = r.mapping(value, key, known, "vetting.code_rules")
    out: dict[str, RuleDecision] = {}
    for name, decision in rules.items():
        if decision is False:  # YAML 1.1 reads an unquoted `off` as false
            decision = "off"
        chosen = r.choice(str(decision), (*key, name), RULE_DECISIONS, "rule decision")
        if chosen is not None:
            out[str(name)] = chosen  # type: ignore[assignment]
    return out


def _kinds(r: Reader, value: Any, key: KeyPath) -> list[FindingKind]:
    names = r.string_list(value, key, single_ok=False) or []
    return [
        n
        for i, n in enumerate(names)
        if r.choice(n, (*key, i), FINDING_KINDS, "finding kind") is not None and is_finding_kind(n)
    ]


def _waiver(r: Reader, item: Any, key: KeyPath) -> Waiver | None:
    w = r.mapping(item, key, ("id", "project", "versions", "justification", "expires"), "waiver")
    if not all(r.require(w, key, f, "waiver") for f in ("id", "project", "justification", "expires")):
        return None
    expires = w["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            r.add((*key, "expires"), f"expires must be a date like 2026-12-31, got '{expires}'")
            return None
    if not isinstance(expires, dt.date):
        r.add((*key, "expires"), f"expires must be a date like 2026-12-31, got {type_name(expires)}")
        return None
    wid, project, just = (r.string(w[f], (*key, f)) for f in ("id", "project", "justification"))
    versions = r.string(w.get("versions", ""), (*key, "versions"), allow_empty=True) or ""
    if wid is None or project is None or just is None:
        return None
    return Waiver(id=wid, project=project, versions=versions, justification=just, expires=expires)


def targets_of(
    config: Config, platforms: list[str] | tuple[str, ...], pythons: list[str] | tuple[str, ...]
) -> list[Target]:
    return config.targets_for(platforms, pythons)

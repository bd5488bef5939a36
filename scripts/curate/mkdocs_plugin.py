"""The ``curate`` mkdocs plugin: the catalog's pages, generated from ``catalog/`` and ``requests/`` at build time.

Named in mkdocs.yml (``plugins: [search, curate]``) and registered as the ``curate`` entry point in
``mkdocs.plugins``. It

- reads the catalog config, the catalog and every request and plans their environments
  (``on_config``), the catalog's history being computed beside meanwhile
  (:class:`curate.history.Background`: started by ``curate build``, else here, before the catalog is
  read; stopped if the build fails, ``on_build_error``); ``curate build`` has a forked process plan the
  environments instead (``plan_beside``: :class:`curate.build.EnvWriter`);
- adds the generated pages (``on_files``): Packages, one page per OS, Requests, Changes, and the shells
  of the package pages, the request pages and the Changes archive pages; a repository without
  ``site/index.md`` gets a default home page;
- fills ``{{ base_url }}``, ``{{ simple_url }}``, ``{{ auth_simple_url }}`` (the index URL with
  ``USER:TOKEN@``), ``{{ index_host }}`` and ``{{ site_name }}`` in every page's Markdown
  (``\\{{ base_url }}`` stays literal), and puts the generated HTML into the pages' slots after Markdown ran
  (``on_page_content``), so no text from requests or package metadata is ever read as Markdown;
- writes the JSON the Packages and OS pages load and every request's page (with its environments:
  curate.environments) after mkdocs built the rest (``on_post_build``; ``curate build`` has the
  process writing the environments' files write the request pages, sent their shell: what
  ``on_planned`` returned); then, once the history is
  here, what shows it: the Changes page's newest changes (its slot is left in the page until then),
  every project's page, the Changes archive pages, ``changes.xml`` and ``api/changes/``
  (:func:`curate.site.write_with_history`; ``curate build`` writes these after the index,
  :func:`curate.site.finish_site`). See curate.site for why package pages stay out of mkdocs' page
  pipeline.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from mkdocs.config import config_options
from mkdocs.config.base import Config as MkConfig
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from curate import site
from curate.cache import cache_root
from curate.config import Config, load_config
from curate.history import Background
from curate.targets import OS_NAMES

PLACEHOLDER = re.compile(r"(\\?)\{\{\s*(base_url|simple_url|auth_simple_url|index_host|site_name)\s*\}\}")
SLOT = '<div class="curate-slot" data-slot="{name}"></div>'
SLOT_MARKDOWN = re.compile(r"(\\?)\{\{\s*curate_(stats)\s*\}\}")

DEFAULT_HOME = """\
# {{ site_name }}

The Python packages this organisation has vetted, for each operating system, and why.
Use `{{ simple_url }}` as your package index.

{{ curate_stats }}
"""


class CuratePluginConfig(MkConfig):  # type: ignore[no-untyped-call]
    root = config_options.Optional(
        config_options.Type(str)
    )  # the catalog repository; default: mkdocs.yml's folder


def _with_credentials(url: str) -> str:
    """``https://host:port/prefix/simple/`` -> ``https://USER:TOKEN@host:port/prefix/simple/``."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}USER:TOKEN@{rest}" if sep else url


def _slot(name: str) -> str:
    return SLOT.format(name=name)


def markdown_text(text: str) -> str:
    """``text`` for a page's Markdown, shown as it is: every character but letters, digits and spaces as
    an HTML character reference, so nothing in it is Markdown or HTML (a site name with ``<script>``,
    ``*`` or ``[x](y)`` in it prints those characters), and no newline ends its heading."""
    return "".join(ch if ch.isalnum() or ch == " " else f"&#{ord(ch)};" for ch in " ".join(text.split()))


class CuratePlugin(BasePlugin[CuratePluginConfig]):  # type: ignore[no-untyped-call]
    supports_multiple_instances = False

    def __init__(self) -> None:
        self.data: site.SiteData | None = None
        self.renderer: site.SiteRenderer | None = None
        self.curate_config: Config | None = None
        self.today: dt.date | None = None  # set by curate.site.build_site: what waivers expire against
        self.env: Mapping[str, str] | None = None  # set by curate.site.build_site from the CLI's
        self.cache_dir: Path | None = None  # the file cache (--cache-dir), set by curate.site.build_site
        self.published: Path | None = None  # the previous build's output, set by curate.site.build_site
        # set by curate.site.build_site: called with what the site was built from once mkdocs has emptied
        # the output (curate build starts writing the environment files beside the site then)
        self.on_planned: Callable[[site.SiteData], site.RequestPages | None] | None = None
        self.request_pages: site.RequestPages | None = None  # what on_planned returned: it writes them
        # set by curate.site.build_site: another process plans the environments (curate.site.collect)
        self.plan_beside: site.PlanBeside | None = None
        # set by curate.site.build_site: the catalog's history, already being computed (else on_config
        # starts it), and whether what shows it is left to curate.site.finish_site
        self.history: Background | None = None
        self.later = False

    def _env(self) -> Mapping[str, str]:
        """The environment git runs with: the CLI's, or, when mkdocs itself runs the plugin
        (``mkdocs build``), the process's: the plugin is then an entry point like ``curate.cli``."""
        return self.env if self.env is not None else dict(os.environ)

    # -- reading -------------------------------------------------------------------------------

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        root = Path(self.config.root or Path(config.config_file_path or ".").parent)
        self.curate_config = load_config(root)  # CurateError propagates: the CLI prints it
        env = self._env()
        published = self.published
        if published is None and self.env is None and config.site_dir:  # mkdocs build: before it cleans
            published = Path(config.site_dir)
        self.data = site.collect(
            root,
            self.curate_config,
            env=env,
            today=self.today,
            cache_dir=cache_root(root, self.curate_config, env, self.cache_dir),
            published=published,
            history=self.history,
            plan_beside=self.plan_beside,
        )
        self.renderer = site.SiteRenderer(self.data)
        if not config.use_directory_urls:
            raise PluginError("curate: the catalog site needs use_directory_urls: true")
        if not config.site_url:
            config.site_url = self.curate_config.base_url
        # The theme prints site_name in <title>, aria-label and the header, mostly without escaping it
        # (mkdocs' Jinja does not autoescape): it gets the name already escaped, as Markup, which the
        # templates that do escape (| e) leave as it is.
        config.site_name = Markup(escape(self.curate_config.site_name))
        return config

    def on_files(self, files: Files, *, config: MkDocsConfig) -> Files | None:
        if self.on_planned is not None and self.data is not None:  # mkdocs cleaned site_dir before this
            self.request_pages = self.on_planned(self.data)
        generated = dict(site.GENERATED_PAGES)
        for src, title in generated.items():
            if files.get_file_from_path(src) is not None:
                raise PluginError(
                    f"curate: {src} is generated from the catalog; remove it from {config.docs_dir}"
                )
            files.append(File.generated(config, src, content=self._page_markdown(src, title)))
        for shell in (site.SHELL_DIR, site.REQUEST_SHELL_DIR, site.CHANGES_SHELL_DIR):
            files.append(
                File.generated(
                    config,
                    f"{shell}.md",
                    content=(
                        f"---\ntitle: {site.SHELL_TITLE}\nsearch:\n  exclude: true\nhide:\n  - toc\n---\n\n"
                        f"{site.SHELL_SLOT}\n"
                    ),
                )
            )
        if files.get_file_from_path("index.md") is None:
            files.append(File.generated(config, "index.md", content=DEFAULT_HOME))
        return files

    @staticmethod
    def _page_markdown(src: str, title: str) -> str:
        slot = src.removesuffix(".md").replace("/", "-")
        # the Changes page is long and changes on every merge: the site's search leaves it out
        search = "search:\n  exclude: true\n" if src == "changes/index.md" else ""
        return f"---\n{search}hide:\n  - toc\n---\n\n# {title}\n\n{_slot(slot)}\n"

    # -- pages ---------------------------------------------------------------------------------

    def on_page_markdown(
        self, markdown: str, *, page: Page, config: MkDocsConfig, files: Files
    ) -> str | None:
        assert self.curate_config is not None
        values = {
            "base_url": self.curate_config.base_url,
            "simple_url": self.curate_config.simple_url,
            "auth_simple_url": _with_credentials(self.curate_config.simple_url),
            "index_host": urlsplit(self.curate_config.base_url).hostname or "",
            "site_name": markdown_text(self.curate_config.site_name),
        }
        # a backslash before the braces keeps them literal: \\{{ base_url }} shows {{ base_url }}
        markdown = PLACEHOLDER.sub(lambda m: m[0][1:] if m[1] else values[m[2]], markdown)
        return SLOT_MARKDOWN.sub(lambda m: m[0][1:] if m[1] else _slot(m[2]), markdown)

    def on_page_content(self, html: str, *, page: Page, config: MkDocsConfig, files: Files) -> str | None:
        if "curate-slot" not in html:
            return html
        assert self.renderer is not None
        renderer = self.renderer
        fills: dict[str, Callable[[], str]] = {
            "stats": renderer.home_stats,
            "packages-index": renderer.packages_list,
            "requests": renderer.requests_page,
            "changes-index": lambda: site.CHANGES_SLOT,  # filled once the history is here
            "os-index": renderer.os_index,
            **{f"os-{o}": functools.partial(renderer.os_page, o) for o in OS_NAMES},
        }
        for name, fill in fills.items():
            marker = _slot(name)
            if marker in html:
                html = html.replace(f"<p>{marker}</p>", marker).replace(marker, fill())
        return html

    # -- after mkdocs --------------------------------------------------------------------------

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        assert self.data is not None
        assert self.renderer is not None
        site_dir = Path(config.site_dir)
        site.write_json(self.data, site_dir)
        urls = site.write_request_pages(self.data, self.renderer, site_dir, beside=self.request_pages)
        # what shows the history last (it is computed beside meanwhile), or later still (curate build)
        rest = functools.partial(
            site.write_with_history, self.data, self.renderer, site_dir, config.site_url or "", urls
        )
        if self.later:
            self.data.later.append(rest)
        else:
            rest()

    def on_build_error(self, *, error: Exception) -> None:
        if self.data is not None:  # stop computing the history
            self.data.history_job.stop()

"""Which lines of a plugin's requirements.txt a package index does not serve. Brain-Score's website
runs `pip install -r requirements.txt` in each plugin folder against PyPI, so a requirement PyPI lacks
fails the submission before any test runs. The index is asked through its PEP 503 simple pages, one
page per project."""
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from typing import NamedTuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename,
                             parse_wheel_filename)
from packaging.version import InvalidVersion, Version

from ..errors import RealnetError, first_line

DEFAULT_INDEX = 'https://pypi.org/simple/'  # what the website installs from
TIMEOUT_S = 10
MAX_PAGE_BYTES = 32 * 2**20  # numpy's PyPI page, every file it ever served, is ~1.5 MB
SHOWN_VERSIONS = 5
NOT_SERVED = (404, 410)
# pip's comment: a '#' at the start of a line or after whitespace; its continuation: a final backslash
_COMMENT = re.compile(r'(^|\s)#.*$')
_CONTINUATION = re.compile(r'\\\r?\n')


class IndexCheck(NamedTuple):
    """The requirement lines pip could not install from the index, one sentence each, and why the
    index could not be asked if it could not (the names not yet looked up then went unchecked)."""
    problems: list[str]
    unchecked: str | None


class _Unreachable(Exception):
    """The index gave no answer about a project: no connection, a timeout, a server error."""


class _NotByName(Exception):
    """A line that is not a requirement by name: an option, a URL, a path, or not parseable."""


def unserved(requirement_files: dict[str, str], index_url: str = DEFAULT_INDEX,
             timeout: float = TIMEOUT_S) -> IndexCheck:
    """The lines of ``requirement_files`` ({path in the zip: text}) pip could not install from the
    simple index ``index_url``: a name it serves no page for, a version specifier no file listed
    there satisfies, a line that is not a requirement by name. An index that does not answer is
    asked no more: the rest of the names go unchecked, and ``unchecked`` says why."""
    _check_url(index_url)
    problems, unchecked, pages = [], None, {}
    for path, text in requirement_files.items():
        for line in _lines(text):
            try:
                problem = _line_problem(line, path, index_url if unchecked is None else None, pages, timeout)
            except _Unreachable as error:
                unchecked, problem = f'could not check the requirements against {index_url}: {error}', None
            problems += [problem] if problem else []
    return IndexCheck(problems, unchecked)


def _line_problem(line: str, path: str, index_url: str | None, pages: dict, timeout: float) -> str | None:
    """Why pip could not install ``line`` of ``path`` from the index (not asked when None)."""
    try:
        requirement = _by_name(line)
    except _NotByName as error:
        return f'line {line!r} (in {path}): {error}; the website installs each requirement by name from PyPI'
    if index_url is None:
        return None
    problem = _unmet(requirement, _page_versions(index_url, requirement.name, pages, timeout), index_url)
    return f'requirement {line!r} (in {path}): {problem}' if problem else None


def _check_url(index_url: str):
    parts = urllib.parse.urlsplit(index_url)
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise RealnetError(f'the package index must be an http:// or https:// URL, not {index_url!r}')


def _lines(text: str) -> list[str]:
    """The requirement lines of a requirements file's text, as pip reads them: continuations
    joined, comments and blank lines left out."""
    lines = (_COMMENT.sub('', line).strip() for line in _CONTINUATION.sub('', text).splitlines())
    return [line for line in lines if line]


def _by_name(line: str) -> Requirement:
    if line.startswith('-'):
        raise _NotByName('an option (-r, -e, --index-url …), not a requirement')
    try:
        requirement = Requirement(line)
    except InvalidRequirement as error:
        raise _NotByName(f'not a requirement by name ({first_line(error)})') from error
    if requirement.url:
        raise _NotByName('a direct URL reference, not a requirement by name')
    return requirement


def _page_versions(index_url: str, name: str, pages: dict, timeout: float) -> list[Version] | None:
    """The versions of the files the index lists for ``name`` (None: it serves no such project);
    each project's page is fetched once, into ``pages``."""
    project = canonicalize_name(name)
    if project not in pages:
        pages[project] = _fetched_versions(f'{index_url.rstrip("/")}/{project}/', timeout)
    return pages[project]


def _fetched_versions(url: str, timeout: float) -> list[Version] | None:
    request = urllib.request.Request(url, headers={'Accept': 'text/html'})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            page = response.read(MAX_PAGE_BYTES)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code in NOT_SERVED:
            return None
        raise _Unreachable(f'{url} answered HTTP {error.code}') from error
    except (OSError, http.client.HTTPException) as error:  # URLError and timeouts are OSErrors
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise _Unreachable(str(reason) or type(reason).__name__) from error
    return sorted({version for name in _file_names(page.decode('utf-8', 'replace'))
                   if (version := _file_version(name)) is not None}, reverse=True)


class _Links(HTMLParser):
    """The file names a simple page links to (the last path segment of each href)."""

    def __init__(self):
        super().__init__()
        self.names = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get('href') if tag == 'a' else None
        if href:
            self.names.append(urllib.parse.unquote(urllib.parse.urlsplit(href).path.rsplit('/', 1)[-1]))


def _file_names(page: str) -> list[str]:
    links = _Links()
    links.feed(page)
    links.close()
    return links.names


def _file_version(file_name: str) -> Version | None:
    """The version a wheel or sdist file name carries; None for other files (eggs, installers) and
    names that do not parse."""
    try:
        if file_name.endswith('.whl'):
            return parse_wheel_filename(file_name)[1]
        return parse_sdist_filename(file_name)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _unmet(requirement: Requirement, versions: list[Version] | None, index_url: str) -> str | None:
    """Why pip could not install ``requirement`` from what the index serves (None: it could)."""
    project = canonicalize_name(requirement.name)
    if versions is None:
        return f'the index {index_url} serves no package {project!r}'
    if not requirement.specifier or any(requirement.specifier.filter(versions)):
        return None
    served = ', '.join(map(str, versions[:SHOWN_VERSIONS])) + (', …' if len(versions) > SHOWN_VERSIONS else '')
    return (f'the index {index_url} serves no {project} matching {str(requirement.specifier)!r} '
            f'({"its newest: " + served if versions else "it lists no wheel or sdist with a version"})')

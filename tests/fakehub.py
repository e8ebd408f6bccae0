"""A fake Hugging Face Hub on 127.0.0.1, for tests that drive the real huggingface_hub client over HTTP.

It serves model repos defined in Python, ``{repo_id: {"refs": {"main": sha}, "commits": {sha: {path: bytes}}}}``,
through the subset of the Hub's HTTP API that huggingface_hub 2.4.0 uses for ``snapshot_download``,
``hf_hub_download`` and ``HfApi.get_paths_info``:

- ``GET /api/models/{repo}[/revision/{rev}]``: repo info (``id``, ``sha``: the commit ``rev`` resolves to, ``siblings``);
- ``GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=``: the tree listing, ``page_size`` entries a page,
  the next page named by a ``Link: <...>; rel="next"`` header as the Hub does;
- ``POST /api/models/{repo}/paths-info/{rev}`` (form ``paths=...&paths=...`` or JSON ``{"paths": [...]}``):
  the entries for the paths that exist;
- ``HEAD`` / ``GET /{repo}/resolve/{rev}/{path}``: the file, with ``X-Repo-Commit``, ``ETag`` (the git blob sha1;
  for an LFS file its sha256, also as ``X-Linked-Etag``, with ``X-Linked-Size``) and ``Content-Length``.

Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``), which the
client turns into its typed exceptions. No redirects, no Xet, no auth: files are served from this server itself.

A file given as ``FakeFile(data, reported_size=N)`` is announced (tree, paths-info, HEAD) as N bytes while a GET
sends only ``data``: a size cap can be tested without gigabytes. Every request is recorded (``requests``), so a
test can assert what was and was not fetched. Anything else is answered 404 and recorded as ``kind="unknown"``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

# what a Hub repo's default .gitattributes stores in LFS (abridged)
LFS_SUFFIXES = (".safetensors", ".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack",
                ".npy", ".npz", ".zip", ".gz", ".tar")


@dataclass(frozen=True)
class FakeFile:
    """A file's bytes; ``reported_size`` is the size the Hub announces, when it should differ from ``len(data)``;
    ``lfs`` forces LFS storage on or off (default: by suffix, as a Hub repo's .gitattributes does)."""

    data: bytes
    reported_size: int | None = None
    lfs: bool | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.reported_size is None else self.reported_size


class RepoSpec(TypedDict):
    refs: dict[str, str]  # branch or tag -> commit sha (40 hex)
    commits: dict[str, dict[str, bytes | FakeFile]]  # commit sha -> {path in repo: content}


@dataclass(frozen=True)
class Request:
    """One request as the server saw it; ``repo``/``revision``/``file`` are decoded, "" where not part of it."""

    method: str
    path: str  # as sent, percent-encoded, without the query
    query: str
    kind: str  # "info", "tree", "paths-info", "resolve" or "unknown"
    repo: str
    revision: str
    file: str
    headers: Mapping[str, str]  # lower-cased names


class _NotFound(Exception):
    def __init__(self, code: str, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.code, self.commit = code, commit


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _as_file(content: bytes | FakeFile) -> FakeFile:
    return content if isinstance(content, FakeFile) else FakeFile(content)


def _is_lfs(path: str, f: FakeFile) -> bool:
    return f.lfs if f.lfs is not None else path.lower().endswith(LFS_SUFFIXES)


REPO = r"(?P<repo>[^/]+/[^/]+)"
REV = r"(?P<rev>[^/]+)"
ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("GET", "info", re.compile(rf"^/api/models/{REPO}(?:/revision/{REV})?$")),
    ("GET", "tree", re.compile(rf"^/api/models/{REPO}/tree/{REV}(?:/(?P<file>.+))?$")),
    ("POST", "paths-info", re.compile(rf"^/api/models/{REPO}/paths-info/{REV}$")),
    ("HEAD", "resolve", re.compile(rf"^/{REPO}/resolve/{REV}/(?P<file>.+)$")),
    ("GET", "resolve", re.compile(rf"^/{REPO}/resolve/{REV}/(?P<file>.+)$")),
]


class FakeHub:
    """The server: ``start()`` binds 127.0.0.1 on a port the OS picks, ``url`` is its endpoint, ``stop()`` ends it.
    Repos can be added (``add_repo``) while it runs; ``page_size`` is read at each tree request."""

    def __init__(self, repos: Mapping[str, RepoSpec] | None = None, page_size: int = 1000) -> None:
        self.repos: dict[str, RepoSpec] = dict(repos or {})
        self.page_size = page_size
        self.errors: list[str] = []  # exceptions raised in the handler (answered 500)
        self.failing: set[str] = set()  # route kinds ("paths-info", "tree", ...) that answer 503, as an outage
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ----------------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, refs: Mapping[str, str], commits: Mapping[str, Mapping[str, bytes | FakeFile]]) -> None:
        for ref, sha in refs.items():
            if sha not in commits:
                raise ValueError(f"{repo_id}: ref {ref} points to {sha}, which is not among the commits")
        for sha in commits:
            if not re.fullmatch(r"[0-9a-f]{40}", sha):
                raise ValueError(f"{repo_id}: a commit id is 40 hex digits, got {sha!r}")
        with self._lock:
            self.repos[repo_id] = {"refs": dict(refs), "commits": {sha: dict(files) for sha, files in commits.items()}}

    def start(self) -> FakeHub:
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fakehub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- the log ---------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def files_fetched(self, repo_id: str | None = None, method: str = "GET") -> list[str]:
        """The repo paths asked for with ``method`` (GET: downloaded; HEAD: metadata), in order."""
        return [r.file for r in self.requests
                if r.kind == "resolve" and r.method == method and (repo_id is None or r.repo == repo_id)]

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    # --- the repos -------------------------------------------------------------------------------------
    def _commit(self, repo_id: str, revision: str) -> tuple[str, dict[str, FakeFile]]:
        with self._lock:
            repo = self.repos.get(repo_id)
        if repo is None:
            raise _NotFound("RepoNotFound", f"Repository {repo_id} not found")
        sha = repo["refs"].get(revision, revision)
        if sha not in repo["commits"]:
            raise _NotFound("RevisionNotFound", f"Invalid rev id: {revision}")
        return sha, {path: _as_file(c) for path, c in repo["commits"][sha].items()}

    @staticmethod
    def _folders(files: Mapping[str, FakeFile]) -> set[str]:
        return {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}

    @staticmethod
    def _entry(path: str, files: Mapping[str, FakeFile]) -> dict[str, Any]:
        if path not in files:  # a folder
            return {"type": "directory", "oid": git_blob_sha1(path.encode()), "size": 0, "path": path}
        f = files[path]
        if not _is_lfs(path, f):
            return {"type": "file", "oid": git_blob_sha1(f.data), "size": f.size, "path": path}
        sha256 = hashlib.sha256(f.data).hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {f.size}\n".encode()
        return {"type": "file", "oid": git_blob_sha1(pointer), "size": f.size, "path": path,
                "lfs": {"oid": sha256, "size": f.size, "pointerSize": len(pointer)}}


def _make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads hub.requests instead

        def do_GET(self) -> None:
            self._handle()

        def do_HEAD(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        # --- dispatch ------------------------------------------------------------------------------
        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            kind, groups = "unknown", {}
            for method, name, pattern in ROUTES:
                m = pattern.match(split.path)
                if m and method == self.command:
                    kind, groups = name, {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
                    break
            hub._record(Request(self.command, split.path, split.query, kind, groups.get("repo", ""),
                                groups.get("rev", "main" if kind == "info" else ""), groups.get("file", ""),
                                {k.lower(): v for k, v in self.headers.items()}))
            if kind in hub.failing:
                self._send(503, b"the fake Hub is down for this route", "text/plain", {})
                return
            try:
                if kind == "unknown":
                    raise _NotFound("", f"the fake Hub does not serve {self.command} {split.path}")
                sha, files = hub._commit(groups["repo"], groups.get("rev", "main"))
                if kind == "info":
                    self._json({"id": groups["repo"], "sha": sha, "private": False, "disabled": False,
                                "gated": False, "tags": [], "siblings": [{"rfilename": p} for p in sorted(files)]})
                elif kind == "tree":
                    self._tree(split.path, parse_qs(split.query), groups.get("file", ""), files)
                elif kind == "paths-info":
                    self._json([hub._entry(p, files) for p in self._paths(body)
                                if p in files or p in hub._folders(files)])
                else:
                    self._resolve(sha, groups["file"], files)
            except _NotFound as e:
                headers = {"X-Error-Message": str(e)}
                if e.code:
                    headers["X-Error-Code"] = e.code
                if e.commit:
                    headers["X-Repo-Commit"] = e.commit
                status = 401 if e.code == "RepoNotFound" else 404  # the Hub hides missing and private repos alike
                self._send(status, json.dumps({"error": str(e)}).encode(), "application/json", headers)
            except Exception as e:  # a bug here: answer, and let the test see it
                hub.errors.append(f"{self.command} {self.path}: {e!r}")
                self._send(500, b"fake hub error", "text/plain", {})

        def _paths(self, body: bytes) -> list[str]:
            if self.headers.get("Content-Type", "").startswith("application/json"):
                return list(json.loads(body or b"{}").get("paths", []))
            return parse_qs(body.decode(), keep_blank_values=True).get("paths", [])

        def _tree(self, path: str, query: dict[str, list[str]], folder: str, files: dict[str, FakeFile]) -> None:
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            prefix = f"{folder}/" if folder else ""
            if folder and folder not in hub._folders(files):
                raise _NotFound("EntryNotFound", f"{folder} does not exist")
            names = sorted(p for p in set(files) | hub._folders(files)
                           if p.startswith(prefix) and (recursive or "/" not in p[len(prefix):]))
            start = int(query.get("cursor", ["0"])[0])
            size = max(1, hub.page_size)
            headers = {}
            if start + size < len(names):
                params = {"recursive": query.get("recursive", ["false"])[0],
                          "expand": query.get("expand", ["false"])[0], "cursor": str(start + size)}
                headers["Link"] = f'<{hub.url}{path}?{urlencode(params)}>; rel="next"'
            self._json([hub._entry(p, files) for p in names[start:start + size]], headers)

        def _resolve(self, sha: str, path: str, files: dict[str, FakeFile]) -> None:
            if path not in files:
                raise _NotFound("EntryNotFound", f"{path} does not exist at {sha}", commit=sha)
            f, entry = files[path], hub._entry(path, files)
            headers = {"X-Repo-Commit": sha, "Accept-Ranges": "none"}
            if "lfs" in entry:
                etag = f'"{entry["lfs"]["oid"]}"'
                headers.update({"ETag": etag, "X-Linked-Etag": etag, "X-Linked-Size": str(f.size)})
            else:
                headers["ETag"] = f'"{entry["oid"]}"'
            # a HEAD announces the (possibly inflated) size; a GET sends the bytes there are
            self._send(200, f.data, "application/octet-stream", headers,
                       length=f.size if self.command == "HEAD" else len(f.data))

        # --- replies --------------------------------------------------------------------------------
        def _json(self, data: Any, headers: Mapping[str, str] | None = None) -> None:
            self._send(200, json.dumps(data).encode(), "application/json", headers or {})

        def _send(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str],
                  length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def iter_files(folder: Path) -> Iterator[str]:
    """Paths of the files under ``folder``, relative and '/'-separated, sorted."""
    yield from sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

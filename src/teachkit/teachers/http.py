"""HTTP plumbing shared by the remote backends: the API key, one session, error mapping.

:class:`HttpClient` holds a single keep-alive ``aiohttp`` session whose connection pool is larger
than the teacher's window, (de)serialises with orjson, and turns every way a call can fail into the
exception the controller acts on:

* dropped connections, timeouts, 408/409/425/429 and 5xx, and a body that is not JSON are
  :class:`~teachkit.errors.RetryableError` (with the server's ``Retry-After`` when it sent one);
* 401/403 mean the key is wrong: :class:`~teachkit.errors.ConfigError`;
* an exhausted quota stops the run: :class:`~teachkit.errors.CircuitOpenError`;
* any other 4xx is :class:`~teachkit.errors.RequestRejectedError` for that request alone.

The API key lives only in the session's headers; messages name the environment variable instead.
A server's text in an error can echo the key: :meth:`HttpBackend.secrets` declares it, and the
Teacher masks it in every error (see :mod:`teachkit.teachers.redact`). When a key is sent to a
host other than the provider's own, a warning naming the variable and the host is logged once.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Generic

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from teachkit.errors import CircuitOpenError, ConfigError, RequestRejectedError, RetryableError
from teachkit.teachers.backend import Backend, OptionsT, Response

__all__ = [
    "HttpBackend",
    "HttpClient",
    "credential_free_headers",
    "endpoint",
    "is_local_url",
    "merge_choices",
    "parse_duration",
    "parse_limits",
    "parse_retry_after",
    "resolve_api_key",
    "safe_url",
]

log = logging.getLogger("teachkit")

#: statuses worth retrying besides every 5xx (529 is Anthropic's "overloaded")
_RETRY_STATUSES = frozenset({408, 409, 425, 429})
_EXCERPT = 300
#: (variable, host) pairs already warned about in this process: one warning per destination
_WARNED: set[tuple[str, str]] = set()


def is_local_url(url: str) -> bool:
    """True when ``url`` points at this machine (loopback, ``0.0.0.0`` or ``localhost``)."""
    host = (URL(url).host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified  # 0.0.0.0 reaches this machine


def safe_url(url: str) -> str:
    """``url`` without user, password or query string (where secrets hide)."""
    return str(URL(url).with_user(None).with_query(None).with_fragment(None))


#: header names that carry credentials: never from a recipe (it would land in the resolved copy)
_SECRET_HEADERS = re.compile(r"authorization|api[-_]?key|token|secret|cookie|session", re.I)


def credential_free_headers(headers: dict[str, str]) -> dict[str, str]:
    """Validator of ``extra_headers``: refuse a header that would carry a credential."""
    for name in headers:
        if _SECRET_HEADERS.search(name):
            raise ValueError(
                f"extra_headers must not set {name!r}: the key would be written into the run "
                "directory. Put it in an environment variable and name it with api_key_env"
            )
    return headers


def endpoint(base_url: str, path: str) -> str:
    """``base_url`` with ``path`` appended to its path; its query string (``?api-version=``) is
    kept after the new path, where a server expects it."""
    url = URL(base_url)
    joined = url.path.rstrip("/") + "/" + path.lstrip("/")
    return str(url.with_path(joined).with_query(url.query).with_fragment(None))


def resolve_api_key(backend: str, base_url: str, env_name: str) -> str | None:
    """Read the key from the environment variable ``env_name``.

    A server on this machine needs no key: when the variable is unset and ``base_url`` is a
    loopback address, None is returned and no credentials are sent. Anywhere else a missing key
    is a :class:`ConfigError` that names the variable (never its value).
    """
    key = os.environ.get(env_name, "").strip()
    if key:
        return key
    if is_local_url(base_url):
        return None
    raise ConfigError(
        f"The {backend} teacher needs an API key in the environment variable {env_name}, "
        f"which is not set. Set it (export {env_name}=...) or name another variable with "
        "teacher.api_key_env; servers on localhost need no key."
    )


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str) -> float | None:
    """Seconds from ``"20ms"``, ``"1.5s"``, ``"6m0s"``, ``"2"`` or an ISO 8601 / HTTP date."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        return sum(float(n) * scale[u] for n, u in parts)
    from datetime import datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def merge_choices(parts: list[Response]) -> Response:
    """One response holding the choices of several (``n`` drawn as separate requests)."""
    merged = Response(texts=[], finish_reasons=[], model=parts[0].model, limits=parts[-1].limits)
    for part in parts:
        merged.texts += part.texts
        merged.finish_reasons += part.finish_reasons
        merged.usage.add(part.usage)
    return merged


def parse_retry_after(headers: CIMultiDictProxy[str] | dict[str, str]) -> float | None:
    """The wait the server asked for: ``retry-after-ms`` or ``Retry-After`` (seconds or a date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    return parse_duration(value) if value else None


#: header -> key in :attr:`Response.limits`; OpenAI-style names first, then Anthropic's
_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": "limit_requests",
    "x-ratelimit-remaining-requests": "remaining_requests",
    "x-ratelimit-reset-requests": "reset_requests",
    "x-ratelimit-limit-tokens": "limit_tokens",
    "x-ratelimit-remaining-tokens": "remaining_tokens",
    "x-ratelimit-reset-tokens": "reset_tokens",
    "anthropic-ratelimit-requests-limit": "limit_requests",
    "anthropic-ratelimit-requests-remaining": "remaining_requests",
    "anthropic-ratelimit-requests-reset": "reset_requests",
    "anthropic-ratelimit-tokens-limit": "limit_tokens",
    "anthropic-ratelimit-tokens-remaining": "remaining_tokens",
    "anthropic-ratelimit-tokens-reset": "reset_tokens",
}


def parse_limits(headers: CIMultiDictProxy[str] | dict[str, str]) -> dict[str, float] | None:
    """Rate-limit facts from ``x-ratelimit-*`` / ``anthropic-ratelimit-*`` headers (or None).

    Resets become seconds from now, whether sent as durations (``6m0s``) or timestamps.
    """
    if (
        "x-ratelimit-remaining-requests" not in headers
        and "x-ratelimit-remaining-tokens" not in headers
        and "anthropic-ratelimit-requests-remaining" not in headers
        and "anthropic-ratelimit-tokens-remaining" not in headers
    ):
        return None
    limits: dict[str, float] = {}
    for header, name in _LIMIT_HEADERS.items():
        value = headers.get(header)
        if value is None:
            continue
        number = parse_duration(value)
        if number is not None:
            limits[name] = number
    return limits or None


def _server_message(raw: bytes) -> tuple[str, str]:
    """The server's own error text and code from an error body (JSON or plain text)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:_EXCERPT].decode("utf-8", "replace").strip() or "(empty body)", ""
    code = ""
    message: Any = body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            code = str(error.get("code") or error.get("type") or "")
            message = error.get("message") or error.get("detail") or error
        else:
            message = error
    text = message if isinstance(message, str) else orjson.dumps(message).decode()
    return text[:_EXCERPT], code


class HttpClient:
    """One keep-alive session to one server. Create in ``start()``, close in ``aclose()``."""

    def __init__(
        self,
        *,
        backend: str,
        headers: dict[str, str],
        concurrency: int,
        timeout: float,
        secret: str | None,
        key_env: str,
    ) -> None:
        self.backend = backend
        self.key_env = key_env
        self._headers = {"Content-Type": "application/json", **headers}
        self._pool = max(100, 2 * concurrency + 8)
        self._connect_timeout = min(30.0, timeout)
        self._secret = secret
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool, limit_per_host=0, keepalive_timeout=60.0, ttl_dns_cache=300
            )
            # the controller bounds each attempt (asyncio.timeout); no second timer per request
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout)
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, timeout=timeout
            )

    @property
    def secret(self) -> str | None:
        """The key sent in the headers (for the Teacher to mask; never put it anywhere)."""
        return self._secret

    async def post(self, url: str, payload: dict[str, Any]) -> tuple[Any, dict[str, float] | None]:
        """POST ``payload`` as JSON; the decoded body and the rate-limit facts, or an error."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        try:
            async with self._session.post(url, data=orjson.dumps(payload)) as resp:
                raw = await resp.read()
                status = resp.status
                headers = resp.headers
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            detail = str(exc) or type(exc).__name__
            raise RetryableError(
                f"The connection to {safe_url(url)} failed ({type(exc).__name__}: {detail})."
            ) from None
        if status >= 400:
            self._raise_for(status, url, raw, headers)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            excerpt = raw[:120].decode("utf-8", "replace")
            raise RetryableError(
                f"{safe_url(url)} answered HTTP {status} with a body that is not valid JSON "
                f"({len(raw)} bytes, starting {excerpt!r})."
            ) from None
        return body, parse_limits(headers)

    def _raise_for(self, status: int, url: str, raw: bytes, headers: CIMultiDictProxy[str]) -> None:
        message, code = _server_message(raw)
        what = f"HTTP {status} from {safe_url(url)}: {message}"
        if status in (401, 403):
            if self._secret is None:
                hint = f"no key was sent because {self.key_env} is unset; set it"
            else:
                hint = f"check the key in the environment variable {self.key_env}"
            raise ConfigError(f"The server refused the credentials ({what}); {hint}.")
        if status == 429 and code == "insufficient_quota":
            raise CircuitOpenError(
                f"The account behind {self.key_env} has no quota left ({what}). Add credit or "
                "wait, then run the same command again to resume."
            )
        if status in _RETRY_STATUSES or status >= 500:
            raise RetryableError(what, status=status, retry_after=parse_retry_after(headers))
        if status == 404:
            what += " (check teacher.model and teacher.base_url)"
        raise RequestRejectedError(what, status=status)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class HttpBackend(Backend[OptionsT], Generic[OptionsT]):
    """What the HTTP backends share: the key read from the environment (never stored elsewhere),
    one pooled client, and a secret-free ``describe``."""

    #: environment variable read when the recipe names none
    default_key_env: ClassVar[str]
    #: the provider's own server: a key sent anywhere else is warned about
    default_base_url: ClassVar[str]

    def _connect(
        self, base_url: str, headers: dict[str, str], auth: dict[str, str] | None = None
    ) -> None:
        """Resolve the key and open the client; ``auth`` maps header names to a template in
        which ``{key}`` is replaced by the key (left out when a local server needs none)."""
        self.base_url = base_url
        self.key_env = self.config.api_key_env or self.default_key_env
        key = resolve_api_key(self.id, base_url, self.key_env)
        self.authenticated = key is not None
        sent = dict(headers)
        if key is not None:
            sent.update({name: value.format(key=key) for name, value in (auth or {}).items()})
            self._warn_destination(base_url)
        self._http = HttpClient(
            backend=self.id,
            headers=sent,
            concurrency=self.config.max_concurrency,
            timeout=self.config.timeout,
            secret=key,
            key_env=self.key_env,
        )

    def _warn_destination(self, base_url: str) -> None:
        """Say once when the key goes to a host other than the provider's own."""
        host = (URL(base_url).host or "").lower()
        default = (URL(self.default_base_url).host or "").lower()
        if host == default or (self.key_env, host) in _WARNED:
            return
        _WARNED.add((self.key_env, host))
        log.warning(
            "the recipe sends the key in %s to %s, not to %s's own server %s; run it only if "
            "you trust that host with this key",
            self.key_env,
            host,
            self.id,
            default,
        )

    def secrets(self) -> tuple[str, ...]:
        secret = self._http.secret
        return (secret,) if secret else ()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.id,
            "model": self.model,
            "base_url": safe_url(self.base_url),
            "api_key_env": self.key_env if self.authenticated else None,
        }

    async def start(self) -> None:
        await self._http.start()

    async def aclose(self) -> None:
        await self._http.aclose()

"""Who may talk to localcloud: loopback clients, never a web page's scripts.

localcloud runs code by design (a processing job is a command line), so a request it serves is as
good as a shell on the user's machine. Binding to 127.0.0.1 keeps other machines out, but not the
web pages the user's browser shows: a page can POST to http://127.0.0.1:4566 (its `Origin` gives
it away), or point a name it controls at 127.0.0.1 and call it same-origin (DNS rebinding: then
the `Host` header gives it away). So, by default:

- a request with an `Origin` header is served only if that origin is a loopback one
  (http://localhost:3000, http://127.0.0.1:8080, ...) or one the user allowed by name;
- a request is served only if its `Host` is a loopback name (localhost, *.localhost, 127.x.x.x,
  [::1]), the host localcloud was told to serve, or one the user allowed by name;
- a request a browser marks `Sec-Fetch-Site: cross-site` is refused even without an `Origin`.

SDKs, the CLI and the CDK CLI send no `Origin` and a loopback `Host`, so they are unaffected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["AccessPolicy", "is_loopback_name"]


def is_loopback_name(host: str) -> bool:
    """localhost, a name under .localhost (RFC 6761), or a loopback address."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> str:
    """The host name of a `Host` header value (port and IPv6 brackets removed), lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _normal_origin(origin: str) -> str | None:
    """scheme://host[:port] of an origin, lower-cased; None for anything that is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


@dataclass(frozen=True)
class AccessPolicy:
    """The hosts and origins localcloud answers, beyond loopback ones."""

    allowed_hosts: frozenset[str] = frozenset()
    """Host names (no port) served besides loopback names, e.g. the --host address."""
    allowed_origins: frozenset[str] = frozenset()
    """Exact origins (scheme://host[:port]) whose pages may call localcloud, or `*` for any."""

    @classmethod
    def build(cls, hosts: Iterable[str] = (), origins: Iterable[str] = ()) -> AccessPolicy:
        host_names = {_split_host(h) for h in hosts if h and h.strip()}
        host_names.discard("")
        normal = set()
        for origin in origins:
            if origin.strip() == "*":
                normal.add("*")
                continue
            found = _normal_origin(origin)
            if found is None:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
            normal.add(found)
        return cls(frozenset(host_names), frozenset(normal))

    def refusal(self, host: str | None, origin: str | None, fetch_site: str | None) -> str | None:
        """Why a request with these headers is refused, or None if it may be served."""
        if not host:
            return "the request has no Host header"
        name = _split_host(host)
        if not (is_loopback_name(name) or name in self.allowed_hosts):
            return (f"Host {host[:100]!r} is not a loopback name (a web page may be using DNS rebinding); "
                    f"allow it with --allow-host if you mean it")
        if origin is not None:
            if "*" in self.allowed_origins:
                return None
            normal = _normal_origin(origin)
            if normal is None or not (normal in self.allowed_origins or is_loopback_name(urlsplit(normal).hostname
                                                                                        or "")):
                return (f"requests from web pages are refused: Origin {origin[:100]!r} is not a loopback origin; "
                        f"allow it with --allow-origin if you mean it")
            return None
        if fetch_site and fetch_site.strip().lower() == "cross-site" and "*" not in self.allowed_origins:
            return "requests from web pages are refused (Sec-Fetch-Site: cross-site)"
        return None

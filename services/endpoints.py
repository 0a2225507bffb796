"""Which server to talk to, and how to hand it the key."""

from __future__ import annotations

from dataclasses import dataclass

GOOGLE_URL = "https://generativelanguage.googleapis.com"
CHAINHUB_URL = "https://api.chainhub.tech"
AUTH_STYLES = ("header", "query", "bearer")


@dataclass(frozen=True)
class Endpoint:
    name: str  # google, chainhub, demo, custom
    base_url: str  # the server's root, no trailing slash, no /v1beta
    auth: tuple[str, ...]  # one or more of AUTH_STYLES
    label: str

    @property
    def is_google(self) -> bool:
        return self.name == "google"

    @property
    def needs_key(self) -> bool:
        return self.name != "demo"

    def with_base_url(self, base_url: str) -> Endpoint:
        return Endpoint(self.name, normalize_base_url(base_url), self.auth, self.label)


def normalize_base_url(url: str) -> str:
    """`https://host/`, `https://host/v1beta` and `https://host/v1beta/` all mean the server `https://host`."""
    url = url.strip()
    if not url:
        raise ValueError("The endpoint URL is empty.")
    if "://" not in url:
        url = "https://" + url
    url = url.rstrip("/")
    for suffix in ("/v1beta", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)].rstrip("/")
    scheme = url.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"The endpoint URL must start with http:// or https://, not {scheme}://.")
    return url


def google() -> Endpoint:
    return Endpoint("google", GOOGLE_URL, ("header",), "Google (generativelanguage.googleapis.com)")


def chainhub() -> Endpoint:
    return Endpoint("chainhub", CHAINHUB_URL, ("query", "bearer"), "ChainHub proxy (api.chainhub.tech)")


def demo(base_url: str = "http://127.0.0.1:0") -> Endpoint:
    return Endpoint("demo", base_url, (), "Offline demo (built in, no key, no cost)")


def custom(url: str, auth: str = "query") -> Endpoint:
    if auth not in AUTH_STYLES:
        raise ValueError(f"Unknown auth style {auth!r}: use one of {', '.join(AUTH_STYLES)}.")
    base = normalize_base_url(url)
    if base == GOOGLE_URL:
        return Endpoint("google", base, (auth,), "Google (generativelanguage.googleapis.com)")
    return Endpoint("custom", base, (auth,), base)


def resolve(spec: str | None, auth: str | None = None) -> Endpoint:
    """`demo`, `google`, `chainhub`, or a URL; `auth` overrides the endpoint's own style."""
    spec = (spec or "google").strip()
    lowered = spec.lower()
    if lowered == "demo":
        return demo()
    if lowered == "google":
        endpoint = google()
    elif lowered == "chainhub":
        endpoint = chainhub()
    else:
        base = normalize_base_url(spec)
        if base == CHAINHUB_URL:
            endpoint = chainhub()
        elif base == GOOGLE_URL:
            endpoint = google()
        else:
            endpoint = custom(base, auth or "query")
    if auth:
        if auth not in AUTH_STYLES:
            raise ValueError(f"Unknown auth style {auth!r}: use one of {', '.join(AUTH_STYLES)}.")
        endpoint = Endpoint(endpoint.name, endpoint.base_url, (auth,), endpoint.label)
    return endpoint

"""The chat client a configuration names: its endpoint or the embedded model, with its cache."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config
from .cache import CachedClient, ReplyCache, default_cache_path
from .client import ChatClient, OpenAIChatClient

# Set in a confined runner: every client goes through the broker that holds the key, the cache
# and the model (`lmulator.sandbox.runner`).
_route: Callable[[Config], ChatClient] | None = None


def route_clients_through(factory: Callable[[Config], ChatClient]) -> None:
    """Make every client this process asks for come from ``factory`` (a broker's)."""
    global _route
    _route = factory


def make_client(config: Config) -> ChatClient:
    """The chat client a configuration names (its endpoint, or the embedded model), cached."""
    if _route is not None:
        return _route(config)
    client: ChatClient
    if not config.base_url:
        from .local.model import LazyLocalClient, model_path

        client = LazyLocalClient(temperature=config.temperature, timeout=config.timeout)
        endpoint = f"embedded:{model_path().name}"
    else:
        client = OpenAIChatClient(
            config.base_url,
            config.api_key,
            config.model,
            temperature=config.temperature,
            schema_style=config.schema_style,
            timeout=config.timeout,
        )
        endpoint = config.base_url
    if config.cache == "off":
        return client
    path = default_cache_path() if config.cache == "auto" else config.cache
    cached: ChatClient = CachedClient(
        client, ReplyCache(path), f"{endpoint}@t={config.temperature}"
    )
    return cached

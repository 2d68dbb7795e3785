"""The on-disk reply cache: hit, miss, concurrent writers, corruption."""

import multiprocessing
import sqlite3
import warnings

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.lm.cache import CachedClient, CacheWarning, ReplyCache, cache_key
from lmulator.testing import value_rule

MESSAGES = [{"role": "user", "content": "x"}]


def test_miss_then_hit(tmp_path):
    cache = ReplyCache(tmp_path / "c.sqlite3")
    key = cache_key("m", "e", MESSAGES, {})
    assert cache.get(key) is None
    cache.put(key, "m", "e", {"messages": MESSAGES}, '{"value": 1}')
    assert cache.get(key) == '{"value": 1}'
    assert cache_key("m", "e", MESSAGES, {"a": 1}) != key
    assert cache_key("other", "e", MESSAGES, {}) != key


def test_a_rerun_costs_no_lm_call(lm, tmp_path):
    lm.rules(value_rule("get_country('Paris')", "France"))
    path = tmp_path / "replies.sqlite3"
    cfg = Config(base_url=lm.base_url, model="scripted", cache=str(path))
    assert Session(cfg).run("get_country('Paris')").value == "France"
    assert Session(cfg).run("get_country('Paris')").value == "France"
    assert len(lm.log()) == 1
    client = Session(cfg).emulator.client
    assert isinstance(client, CachedClient)


def _writer(path, start):
    cache = ReplyCache(path)
    for i in range(start, start + 200):
        cache.put(f"k{i}", "m", "e", {}, f"r{i}")
    cache.close()


def test_two_processes_writing_at_once(tmp_path):
    path = tmp_path / "c.sqlite3"
    ReplyCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, n * 1000)) for n in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = ReplyCache(path)
    assert len(cache) == 400
    assert cache.get("k1199") == "r1199"


def test_corrupt_file_is_set_aside_with_a_warning(tmp_path):
    path = tmp_path / "c.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.warns(CacheWarning, match="set aside"):
        cache = ReplyCache(path)
    assert cache.enabled
    cache.put("k", "m", "e", {}, "r")
    assert cache.get("k") == "r"
    assert list(tmp_path.glob("c.sqlite3.corrupt-*"))


def test_unusable_location_turns_the_cache_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = ReplyCache(blocker / "sub" / "c.sqlite3")
    assert not cache.enabled and caught
    assert cache.get("k") is None
    cache.put("k", "m", "e", {}, "r")  # no crash


def test_sqlite_is_really_used(tmp_path):
    path = tmp_path / "c.sqlite3"
    ReplyCache(path).put("k", "m", "e", {"a": 1}, "r")
    rows = sqlite3.connect(path).execute("SELECT key, reply FROM replies").fetchall()
    assert rows == [("k", "r")]

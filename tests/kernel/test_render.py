"""How the kernel shows marks and traces (cockernel.render), without a kernel."""

from cockernel.render import trace_table
from lmulator.engine.trace import TraceRecord


def lm_record(ms: float) -> TraceRecord:
    return TraceRecord(
        line=3,
        source="c = get_country(city)",
        status="emulated",
        value="France",
        has_value=True,
        target="get_country('Lyon')",
        how="lm",
        ms=ms,
    )


def test_the_trace_table_gives_the_time_once_in_its_own_column():
    table = trace_table([lm_record(1234.4)])
    header, row = table["text/plain"].splitlines()
    assert header.split() == ["line", "status", "what", "ms"]
    assert row.count("1234") == 1 and row.rstrip().endswith("1234")
    assert "get_country('Lyon') → 'France'" in row
    assert table["text/html"].count("1234") == 1

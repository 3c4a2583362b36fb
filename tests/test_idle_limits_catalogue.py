"""The idle-limit catalogue: the shipped file loads, every row is well formed, and
``matching`` finds the products whose defaults explain an inferred idle limit."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipeline.catalogue.idle_limits import BEHAVIOURS, KINDS, OFF_NOTE, IdleLimit, describe, load, matching


@pytest.fixture(scope="module")
def rows() -> tuple[IdleLimit, ...]:
    return load()


def _products(found: list[IdleLimit]) -> list[str]:
    return [r.product for r in found]


def test_the_shipped_catalogue_loads(rows):
    assert len(rows) >= 20
    assert all(isinstance(r, IdleLimit) for r in rows)


def test_every_row_is_valid(rows):
    for r in rows:
        assert r.kind in KINDS, r
        assert r.behaviour in BEHAVIOURS, r
        assert r.source.startswith("https://"), r
        assert r.product and r.setting and r.how_to_change and r.source_quote, r
        if r.seconds == 0:
            assert r.note.startswith(OFF_NOTE), r
        else:
            assert r.seconds > 0, r
        if r.configurable_min is not None and r.seconds:
            assert r.configurable_min <= r.seconds, r
        if r.configurable_max is not None:
            assert r.seconds <= r.configurable_max, r


def test_no_product_and_setting_appears_twice(rows):
    counts = Counter((r.product, r.setting) for r in rows)
    assert [k for k, n in counts.items() if n > 1] == []


def test_the_required_products_are_present(rows):
    by_key = {(r.product, r.setting): r.seconds for r in rows}
    assert by_key[("MySQL", "wait_timeout")] == 28800
    assert by_key[("MySQL", "interactive_timeout")] == 28800
    assert by_key[("MariaDB", "wait_timeout")] == 28800
    assert by_key[("ProxySQL", "mysql-wait_timeout")] == 28800
    assert by_key[("PgBouncer", "server_idle_timeout")] == 600
    assert by_key[("PgBouncer", "client_idle_timeout")] == 0
    assert by_key[("AWS Network Load Balancer", "TCP idle timeout")] == 350
    assert by_key[("AWS RDS Proxy", "IdleClientTimeout")] == 1800
    assert by_key[("GCP Cloud NAT", "TCP established connection idle timeout")] == 1200
    assert by_key[("Azure Load Balancer", "IdleTimeoutInMinutes")] == 240
    assert by_key[("Linux netfilter conntrack", "nf_conntrack_tcp_timeout_established")] == 432000


def test_matching_finds_the_aws_nlb():
    assert "AWS Network Load Balancer" in _products(matching(330, 360))


def test_matching_finds_gcp_cloud_nat():
    assert "GCP Cloud NAT" in _products(matching(1150, 1250))


def test_matching_finds_the_octavia_50_second_default():
    found = matching(40, 60)
    assert "OpenStack Octavia load balancer" in _products(found)
    assert {r.seconds for r in found} == {50}


def test_matching_finds_pgbouncer_server_idle_timeout():
    found = matching(590, 610)
    assert [(r.product, r.setting) for r in found] == [("PgBouncer", "server_idle_timeout")]


def test_matching_filters_by_behaviour():
    silent = matching(40, 400, behaviour="silent")
    closing = matching(40, 400, behaviour="close")
    assert "AWS Network Load Balancer" in _products(silent)
    assert "OpenStack Octavia load balancer" not in _products(silent)
    assert "OpenStack Octavia load balancer" in _products(closing)
    assert all(r.behaviour == "silent" for r in silent)
    assert all(r.behaviour == "close" for r in closing)
    assert matching(40, 400, behaviour="reset") == [r for r in matching(40, 400) if r.behaviour == "reset"]
    with pytest.raises(ValueError, match="behaviour"):
        matching(40, 400, behaviour="dropped")


def test_matching_widens_by_slack_and_orders_by_closeness_to_the_middle():
    # 350 s lies within 10 % above 320: inside with the default slack, outside with none
    assert "AWS Network Load Balancer" in _products(matching(300, 320))
    assert "AWS Network Load Balancer" not in _products(matching(300, 320, slack=0))
    # the interval's lower bound is open: a default equal to lo_s does not match without slack
    assert "AWS Network Load Balancer" not in _products(matching(350, 400, slack=0))
    assert "AWS Network Load Balancer" in _products(matching(300, 350, slack=0))
    found = matching(None, 1000)
    assert found, "some default lies below 1000 s"
    distances = [abs(r.seconds - 500) for r in found]
    assert distances == sorted(distances)
    assert all(r.seconds > 0 for r in found), "limits that are off by default never match"


def test_matching_rejects_nonsense_bounds():
    for lo, hi in ((10, 5), (-1, 5), (None, 0)):
        with pytest.raises(ValueError):
            matching(lo, hi)
    with pytest.raises(ValueError):
        matching(1, 2, slack=-0.1)


def test_describe(rows):
    nlb = next(r for r in rows if r.product == "AWS Network Load Balancer")
    assert describe(nlb) == "AWS Network Load Balancer (TCP idle timeout 350 s, silent)"
    off = next(r for r in rows if (r.product, r.setting) == ("PgBouncer", "client_idle_timeout"))
    assert describe(off) == "PgBouncer (client_idle_timeout off by default, close when set)"


GOOD_ROW = """
[[limit]]
product = "Example LB"
kind = "load_balancer"
setting = "idle timeout"
seconds = 60
behaviour = "silent"
how_to_change = "Set it."
source = "https://example.org/doc"
source_quote = "Default 60 seconds."
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "limits.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_load_accepts_another_file_and_matching_searches_given_rows(tmp_path):
    rows = load(_write(tmp_path, GOOD_ROW))
    assert [r.product for r in rows] == ["Example LB"]
    assert matching(55, 65, rows=rows) == list(rows)


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ('kind = "load_balancer"', 'kind = "router"', "kind"),
        ('behaviour = "silent"', 'behaviour = "dropped"', "behaviour"),
        ('source = "https://example.org/doc"', 'source = "http://example.org/doc"', "https://"),
        ("seconds = 60", "seconds = 0", "0 = off"),
        ("seconds = 60", "seconds = -5", "negative"),
        ("seconds = 60", 'seconds = "60"', "number"),
        ('how_to_change = "Set it."', 'how_to_change = ""', "how_to_change"),
        ('source_quote = "Default 60 seconds."', 'source_quote = "x"\nsecond = 3', "unknown field"),
        ("seconds = 60", "seconds = 60\nconfigurable_max = 30", "configurable"),
    ],
)
def test_a_malformed_row_raises_naming_the_row(tmp_path, replace, by, message):
    bad = GOOD_ROW.replace(replace, by)
    assert bad != GOOD_ROW
    path = _write(tmp_path, GOOD_ROW + bad.replace('"Example LB"', '"Broken LB"'))
    with pytest.raises(ValueError, match=message) as err:
        load(path)
    assert "row 2 (Broken LB / idle timeout)" in str(err.value)


def test_a_documented_zero_loads(tmp_path):
    ok = GOOD_ROW.replace("seconds = 60", 'seconds = 0\nnote = "0 = off unless set."')
    (row,) = load(_write(tmp_path, ok))
    assert row.is_off_by_default and matching(None, 1e9, rows=[row]) == []


def test_a_repeated_product_and_setting_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"row 2 .*repeats row 1"):
        load(_write(tmp_path, GOOD_ROW + GOOD_ROW))


def test_a_file_without_rows_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"\[\[limit\]\]"):
        load(_write(tmp_path, "# nothing\n"))

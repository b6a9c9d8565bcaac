from __future__ import annotations

from pathlib import Path

import pytest

from inferlab.core.errors import ConfigError
from inferlab.loadgen.settings import Layer, compose, parse_user_conf


def test_loadgen_lookup_precedence(tmp_path: Path) -> None:
    conf = tmp_path / "user.conf"
    conf.write_text(
        "# comment\n"
        "*.*.min_duration = 100\n"
        "resnet50.*.min_duration = 200\n"
        "*.Offline.min_duration = 300   # scenario wildcard beats model wildcard\n"
        "*.*.target_qps = 5\n"
        "resnet50.Offline.target_qps = 9.5\n"
        "bert.Offline.min_query_count = 1\n"
        "resnet50.Server.min_query_count = 2\n"
    )
    vals = parse_user_conf(conf, "resnet50", "Offline")
    assert vals == {"min_duration": 300, "target_qps": 9.5}
    assert parse_user_conf(conf, "resnet50", "Server") == {
        "min_duration": 200,
        "target_qps": 5,
        "min_query_count": 2,
    }


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("*.*.qsl_rng_seed = 1", "built-in mlperf.conf"),
        ("*.*.min_durashun = 1", "unknown LoadGen key"),
        ("*.*.qps = 1", "use one of accuracy_log_rng_seed,"),  # no near name: every key
        ("*.*.mode = 2", "--mode"),
        ("*.Batch.min_duration = 1", "unknown scenario"),
        ("min_duration = 1", "cannot parse"),
        ("*.*.min_duration = fast", "not a number"),
        # numbers LoadGen cannot take (it would wrap or cut them silently)
        ("*.*.min_duration = 1e30", "min_duration=1e+30 is out of range"),
        ("*.*.min_duration = inf", "min_duration=inf is not a finite number"),
        ("*.*.target_qps = nan", "target_qps=nan is not a finite number"),
        ("*.*.target_qps = -5", "target_qps=-5 is out of range"),
        ("*.*.min_query_count = 2.5", "min_query_count=2.5 is not a whole number"),
        ("*.*.coalesce_queries = 3", "coalesce_queries=3: use 0 or 1"),
    ],
)
def test_user_conf_errors_name_the_line(tmp_path: Path, line: str, needle: str) -> None:
    conf = tmp_path / "user.conf"
    conf.write_text("\n" + line + "\n")
    with pytest.raises(ConfigError) as err:
        parse_user_conf(conf, "resnet50", "Offline")
    assert needle in str(err.value)
    assert f"{conf}:2" in str(err.value)


def test_compose_layers_and_provenance() -> None:
    conf = compose(
        "resnet50",
        "Offline",
        [
            Layer("calibration", {"target_qps": 10.0, "min_duration": 1}, {"target_qps": "calib"}),
            Layer("quick", {"min_duration": 2000, "min_query_count": 256}),
            Layer("user.conf", {"target_qps": 42}),
            Layer("--set", {"min_query_count": 8}),
        ],
    )
    assert conf.values == {"target_qps": 42, "min_duration": 2000, "min_query_count": 8}
    assert conf.sources == {
        "target_qps": "user.conf",
        "min_duration": "quick",
        "min_query_count": "--set",
    }
    assert "target_qps" not in conf.notes  # the calibration note went with its value
    text = conf.render()
    assert "# target_qps: from user.conf\nresnet50.Offline.target_qps = 42\n" in text
    assert all(line.startswith("#") or "#" not in line for line in text.splitlines())
    assert "resnet50.Offline.min_query_count = 8" in text
    assert "mlperf.conf" in text and "qsl_rng_seed" not in text


def test_not_utf8_names_the_byte_and_a_bom_is_read(tmp_path: Path) -> None:
    conf = tmp_path / "user.conf"
    conf.write_bytes(b"*.*.min_duration = 1\n# \xff\n")
    with pytest.raises(ConfigError) as err:
        parse_user_conf(conf, "resnet50", "Offline")
    assert f"user.conf {conf} is not UTF-8 text: byte 0xff at offset 23 (line 2, column 3)" in (
        err.value.message
    )
    assert err.value.fix is not None and "save it as UTF-8" in err.value.fix
    conf.write_bytes(b"\xef\xbb\xbf*.*.min_duration = 1\n")
    assert parse_user_conf(conf, "resnet50", "Offline") == {"min_duration": 1}

"""The activation journal (``--state-dir``): what it writes, what it reads back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from connector.config import ConfigError
from connector.correlation import Activation
from connector.journal import (
    JOURNAL_NAME,
    ActivationJournal,
    Kept,
    decode,
    encode_kept,
    encode_settled,
    unsettled,
)


def kept(key: int, *, variables: dict[str, object] | None = None) -> Kept:
    activation = Activation(
        message_name="done",
        correlation_key=f"c{key}",
        message_id=f"Wait{key}",
        ttl=dt.timedelta(minutes=5),
        variables={"result": {"status": "done", "n": 1.5}} if variables is None else variables,
        process_id="orders",
        element_id="Wait",
        element_instance_key=key,
    )
    return Kept(key, "Wait", 1000 + key, "<default>", activation)


def test_a_kept_entry_reads_back_as_written() -> None:
    entry = kept(7)
    assert decode(encode_kept(entry)) == entry
    assert decode(encode_settled(entry.key, "activated")) == (7, "Wait")


def test_settled_entries_and_torn_lines_are_not_pending() -> None:
    lines = [
        encode_kept(kept(1)),
        encode_kept(kept(2)),
        encode_settled((1, "Wait"), "activated"),
        "",
        '{"op": "kept", "elementInstanceKey": 3',  # a write torn by a crash
        json.dumps({"op": "other", "elementInstanceKey": 4, "elementId": "Wait"}),
        encode_kept(kept(5)),
    ]
    pending, bad = unsettled(lines)
    assert list(pending) == [(2, "Wait"), (5, "Wait")]
    assert bad == 2


def test_load_keeps_only_what_is_pending(tmp_path: Path) -> None:
    journal = ActivationJournal(tmp_path / "state")
    for key in (1, 2, 3):
        journal.kept(kept(key))
    journal.settled((2, "Wait"), "activated")
    journal.close()
    reopened = ActivationJournal(tmp_path / "state")
    pending, bad = reopened.load()
    assert sorted(pending) == [(1, "Wait"), (3, "Wait")] and bad == 0
    # The file was rewritten with the pending entries only, and is appended to again.
    assert len((tmp_path / "state" / JOURNAL_NAME).read_text().splitlines()) == 2
    reopened.settled((1, "Wait"), "abandoned")
    reopened.close()
    pending, _ = ActivationJournal(tmp_path / "state").load()
    assert list(pending) == [(3, "Wait")]


def test_an_unwritable_state_dir_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as exc:
        ActivationJournal(blocker / "state")
    assert exc.value.problems[0].startswith("--state-dir: cannot write")


def test_the_journal_is_readable_by_the_worker_only(tmp_path: Path) -> None:
    journal = ActivationJournal(tmp_path)
    journal.kept(kept(1))
    journal.load()
    journal.close()
    assert (tmp_path / JOURNAL_NAME).stat().st_mode & 0o777 == 0o600

"""The nightly diff on Arrow tables: what is new or changed against the last good state, and the
state written and read back column-wise."""
import random

import pyarrow as pa
import pyarrow.parquet as pq

from effdet_batch.relabel.state import STATE_DIR, STATE_SCHEMA, changed_objects, load_state, save_state


def _table(rows):
    return pa.table([[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]], schema=STATE_SCHEMA)


def test_new_and_changed_by_size_or_version_others_not():
    previous = _table([("s3://l/a.jpg", 10, '"e1"'), ("s3://l/b.jpg", 20, '"e2"'), ("s3://l/c.jpg", 30, '"e3"'),
                       ("s3://l/gone.jpg", 40, '"e4"')])
    current = _table([("s3://l/d.jpg", 50, '"e5"'), ("s3://l/c.jpg", 30, '"e3x"'), ("s3://l/b.jpg", 21, '"e2"'),
                      ("s3://l/a.jpg", 10, '"e1"'), ("s3://l/0.jpg", 1, '"e0"')])
    assert changed_objects(current, previous) == (["s3://l/0.jpg", "s3://l/d.jpg"], ["s3://l/b.jpg", "s3://l/c.jpg"])
    assert changed_objects(current, STATE_SCHEMA.empty_table()) == (sorted(current["uri"].to_pylist()), [])
    assert changed_objects(STATE_SCHEMA.empty_table(), previous) == ([], [])


def test_diff_equals_a_per_object_comparison():
    rng = random.Random(0)
    previous = {f"/lake/{i:04d}.jpg": (rng.randrange(3), rng.choice("xyz")) for i in range(400)}
    current = {uri: (size, version) for uri, (size, version) in previous.items() if rng.random() > 0.1}
    for uri in rng.sample(sorted(current), 60):
        current[uri] = (rng.randrange(3), rng.choice("xyz"))  # about a third of these equal the old
    current.update({f"/lake/new-{i}.jpg": (1, "n") for i in range(30)})
    want_new = sorted(u for u in current if u not in previous)
    want_changed = sorted(u for u, v in current.items() if u in previous and previous[u] != v)
    got = changed_objects(*(_table([(u, *v) for u, v in d.items()]) for d in (current, previous)))
    assert got == (want_new, want_changed) and len(want_changed) > 20


def test_state_is_written_and_read_back_column_wise(tmp_path):
    assert load_state(str(tmp_path)).num_rows == 0  # before the first run
    listing = _table([("/lake/a.jpg", 1, "1.5"), ("/lake/b.jpg", 2, "2.5")])
    save_state(str(tmp_path), listing)
    assert load_state(str(tmp_path)).equals(listing)
    # A state with other column types and an extra column (an older or newer writer) still reads.
    path = tmp_path / STATE_DIR / "state.parquet"
    pq.write_table(pa.table({"uri": pa.array(["/lake/a.jpg"], pa.large_string()), "size": pa.array([1], pa.int32()),
                             "version": ["1.5"], "labelled_by": ["run-1"]}), path)
    state = load_state(str(tmp_path))
    assert state.schema == STATE_SCHEMA and state.to_pylist() == [{"uri": "/lake/a.jpg", "size": 1, "version": "1.5"}]

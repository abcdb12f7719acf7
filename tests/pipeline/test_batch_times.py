"""Steady-state speed and start-up from constructed batch timelines (no Ray)."""
import pytest

from effdet_batch.pipeline.batch_times import Batch, batch_figures


def _batch(actor, at, images=4, cpu=0.2, nbytes=4000):
    return Batch(actor, at, images, cpu, nbytes)


def test_one_actor_steady_state_is_first_batch_to_last():
    # Started at 100, first batch done at 130 (start-up), then a batch every 2 s.
    batches = [_batch("a", 130.0), _batch("a", 132.0), _batch("a", 134.0), _batch("a", 136.0, images=2)]
    f = batch_figures(batches, started_at=100.0)
    assert (f.batches, f.time_to_first_batch_seconds) == (4, 30.0)
    assert (f.steady_images, f.steady_seconds) == (10, 6.0)
    assert f.steady_images_per_second == pytest.approx(10 / 6, abs=1e-3)
    assert f.decode_cpu_seconds_per_image == pytest.approx(0.8 / 14, abs=1e-5)
    assert f.mean_image_bytes == pytest.approx(16000 / 14, abs=0.1)


def test_several_actors_start_once_all_have_finished_a_first_batch():
    # b starts 5 s after a: the steady state begins at b's first batch (137); after it come a's
    # batches at 138 and 140 and b's at 139 and 141: 16 images over 4 s.
    batches = [_batch("a", 132.0), _batch("a", 134.0), _batch("a", 136.0), _batch("b", 137.0),
               _batch("a", 138.0), _batch("b", 139.0), _batch("a", 140.0), _batch("b", 141.0)]
    f = batch_figures(list(reversed(batches)), started_at=100.0)  # arrival order does not matter
    assert f.time_to_first_batch_seconds == 32.0
    assert (f.steady_images, f.steady_seconds, f.steady_images_per_second) == (16, 4.0, 4.0)


def test_too_short_a_run_has_no_steady_state():
    one = batch_figures([_batch("a", 110.0)], started_at=100.0)
    assert one.time_to_first_batch_seconds == 10.0 and one.steady_images_per_second is None
    each_one = batch_figures([_batch("a", 110.0), _batch("b", 111.0)], started_at=100.0)
    assert each_one.steady_images == 0 and each_one.steady_images_per_second is None
    none = batch_figures([], started_at=100.0)
    assert none.batches == 0 and none.time_to_first_batch_seconds is None and none.decode_cpu_seconds_per_image is None

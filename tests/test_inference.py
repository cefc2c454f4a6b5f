"""The one chunk-and-pad loop (edgeclass.inference.predict_in_chunks) behind Backend.predict and
the offline logit checks: chunk sizes, padding up to a minimum batch, rows kept in order."""

from __future__ import annotations

import numpy as np

from edgeclass.inference import predict_in_chunks


def recording_model(calls):
    def run(x):
        calls.append(len(x))
        return x.reshape(len(x), -1)[:, :2] * 2.0  # row i depends on image i only

    return run


def test_chunks_of_the_max_batch_and_a_padded_last_chunk():
    x = np.random.default_rng(0).random((11, 3, 4, 4), dtype=np.float32)
    calls = []
    out = predict_in_chunks(recording_model(calls), x, max_batch=4, min_batch=4)  # a fixed batch of 4
    assert calls == [4, 4, 4] and out.shape == (11, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out, x.reshape(11, -1)[:, :2] * 2.0)


def test_one_chunk_without_a_max_and_padding_only_below_the_min():
    x = np.ones((3, 3, 4, 4), np.float32)
    calls = []
    assert predict_in_chunks(recording_model(calls), x, max_batch=None).shape == (3, 2) and calls == [3]
    calls.clear()
    assert predict_in_chunks(recording_model(calls), x[:1], max_batch=8, min_batch=2).shape == (1, 2) and calls == [2]
    assert predict_in_chunks(recording_model(calls), x[:0], max_batch=8).shape == (0, 0)

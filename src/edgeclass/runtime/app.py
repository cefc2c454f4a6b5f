"""The whole live loop, on top of the objects that hide the work: sources (capture),
``Classifier``/``Pipeline`` (inference), ``Overlay`` (drawing) and outputs (where results go).
``edgeclass run`` calls this."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from .classifier import Classifier
from .outputs import Output, OutputSpec, Overlay, open_outputs
from .pipeline import Pipeline, PipelineConfig, Step, Summary
from .sources import Source


def run_live(
    clf: Classifier,
    sources: Sequence[Source],
    config: PipelineConfig,
    outputs: Sequence[OutputSpec] = (),
    on_step: Optional[Callable[[Step], None]] = None,
    draw: Optional[bool] = None,
    extra_outputs: Sequence[Output] = (),
) -> Summary:
    """Run until every source ends, ``max_frames`` steps, ``q`` in a window, or Ctrl+C.

    ``outputs`` are opened here and closed at the end (``extra_outputs``: already open, owned by the
    caller). The overlay is drawn once per frame when ``draw`` is set or any output wants it."""
    opened = open_outputs(outputs, fps=sources[0].fps or 30.0) if outputs else []
    sinks = list(opened) + list(extra_outputs)
    draw = draw if draw is not None else any(o.drawn for o in sinks)
    overlay = Overlay(clf.describe())
    pipeline = Pipeline(clf, sources, config)
    many = len(sources) > 1
    try:
        for step in pipeline:
            fps = overlay.tick()
            for r in step.results:
                if draw:
                    overlay.draw(r.frame.image, r.predictions, fps)
                for sink in sinks:
                    sink.write(r, many)
            for sink in sinks:
                sink.end_step()
            if on_step:
                on_step(step)
            if any(sink.wants_quit() for sink in sinks):
                break
    except KeyboardInterrupt:  # Ctrl+C ends the run like the end of a file: the summary still prints
        pass
    finally:
        pipeline.close()
        for sink in opened:
            sink.close()
    return pipeline.summary()

"""The whole live loop, on top of the three objects that hide the work: sources (capture),
``Classifier``/``Pipeline`` (inference) and ``Overlay`` (rendering). ``edgeclass run`` calls this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from .classifier import Classifier
from .overlay import JsonLines, Overlay, VideoSaver, Window
from .pipeline import Pipeline, PipelineConfig, Summary
from .sources import Source


@dataclass
class OutputOptions:
    show: bool = False  # OpenCV window (q / Esc quits)
    save: Optional[str] = None  # annotated video file
    json: Optional[str] = None  # JSON lines file, "-" for stdout
    draw: Optional[bool] = None  # draw the overlay (default: when showing or saving)


def run_live(
    clf: Classifier,
    sources: Sequence[Source],
    config: PipelineConfig,
    out: OutputOptions,
    on_step: Optional[Callable[[object], None]] = None,
) -> Summary:
    """Run until every source ends, ``max_frames`` steps, ``q`` in the window, or Ctrl+C."""
    draw = out.draw if out.draw is not None else (out.show or bool(out.save))
    overlay = Overlay(clf.describe())
    window = Window() if out.show else None
    saver = VideoSaver(out.save, fps=sources[0].fps or 30.0) if out.save else None
    lines = JsonLines(out.json) if out.json else None
    pipeline = Pipeline(clf, sources, config)
    many = len(sources) > 1
    try:
        for step in pipeline:
            fps = overlay.tick()
            for r in step.results:
                if draw:
                    overlay.draw(r.frame.image, r.predictions, fps)
                if saver:
                    saver.write(r.source, r.frame.image, many)
                if window:
                    window.show(r.source, r.frame.image)
                if lines:
                    lines.write(r.to_json())
            if lines:
                lines.flush()
            if on_step:
                on_step(step)
            if window and window.wants_quit():
                break
    except KeyboardInterrupt:  # Ctrl+C ends the run like the end of a file: the summary still prints
        pass
    finally:
        pipeline.close()
        for sink in (lines, saver, window):
            if sink is not None:
                sink.close()
    return pipeline.summary()


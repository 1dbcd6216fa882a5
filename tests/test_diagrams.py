"""Tests of e2e_tutorial.diagrams: the workflow block diagrams of seminar figures 1, 2, 7, 11."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from e2e_tutorial import diagrams  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _boxes(ax):
    return sorted(
        (p for p in ax.patches if isinstance(p, FancyBboxPatch) and (p.get_gid() or "").startswith("box-")),
        key=lambda p: int(p.get_gid().split("-")[1]),
    )


def _arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch) and (p.get_gid() or "").startswith("arrow-")]


def _labels(ax):
    return [t for t in ax.texts if (t.get_gid() or "").startswith("label-")]


def _png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    return buf.getvalue()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_one_box_per_stage_and_one_arrow_between_neighbours(n):
    stages = [f"stage {i}" for i in range(n)]
    _, ax = diagrams.draw_workflow(stages)
    assert len(_boxes(ax)) == n
    assert len(_arrows(ax)) == n - 1
    assert len(_labels(ax)) == n


def test_labels_in_order_left_to_right_and_centred_in_their_boxes():
    stages = ["alpha", "beta", "gamma", "delta"]
    fig, ax = diagrams.draw_workflow(stages)
    fig.canvas.draw()  # fixes the data-to-display transform the arrow paths go through
    labels = sorted(_labels(ax), key=lambda t: t.get_position()[0])
    assert [t.get_text() for t in labels] == stages
    boxes = _boxes(ax)
    for box, text in zip(boxes, labels):
        centre = box.get_x() + box.get_width() / 2
        assert text.get_position()[0] == pytest.approx(centre)
    # Boxes do not overlap, and each arrow runs from one box to the next.
    for left, right in zip(boxes, boxes[1:]):
        assert left.get_x() + left.get_width() < right.get_x()
    for i, arrow in enumerate(sorted(_arrows(ax), key=lambda a: int(a.get_gid().split("-")[1]))):
        extent = arrow.get_path().get_extents()  # data coordinates (inches); 2-point shrink at each end
        assert extent.x0 == pytest.approx(boxes[i].get_x() + boxes[i].get_width(), abs=0.08)
        assert extent.x1 == pytest.approx(boxes[i + 1].get_x(), abs=0.08)


def test_text_fits_inside_boxes_of_the_course_diagrams():
    """Rendered labels lie within their boxes (no text spilling over the edges)."""
    for stages in (
        diagrams.TRADITIONAL_STAGES,
        diagrams.END_TO_END_STAGES,
        diagrams.FCN_STAGES,
        diagrams.CNN_STAGES,
    ):
        fig, ax = diagrams.draw_workflow(stages)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        labels = sorted(_labels(ax), key=lambda t: t.get_position()[0])
        for box, text in zip(_boxes(ax), labels):
            b = box.get_window_extent(renderer)
            t = text.get_window_extent(renderer)
            assert b.x0 < t.x0 and t.x1 < b.x1, f"label {text.get_text()!r} is wider than its box"
            assert b.y0 < t.y0 and t.y1 < b.y1, f"label {text.get_text()!r} is taller than its box"


def test_end_to_end_is_shorter_and_drops_reconstruction_and_features():
    _, ax_trad = diagrams.traditional_workflow()
    _, ax_e2e = diagrams.end_to_end_workflow()
    trad = [t.get_text() for t in _labels(ax_trad)]
    e2e = [t.get_text() for t in _labels(ax_e2e)]
    assert len(_boxes(ax_e2e)) < len(_boxes(ax_trad))
    assert len(e2e) < len(trad)
    for text in e2e:
        lowered = text.lower()
        assert "reconstruction" not in lowered
        assert "feature" not in lowered
    assert any("reconstruction" in t.lower() for t in trad)
    assert any("feature" in t.lower() for t in trad)
    # Same input and output: only the middle changes.
    assert trad[0] == e2e[0] and trad[-1] == e2e[-1]
    removed = [diagrams.TRADITIONAL_STAGES[i] for i in diagrams.REMOVED_BY_END_TO_END]
    assert not set(removed) & set(diagrams.END_TO_END_STAGES)


def test_cross_out_marks_exactly_the_removed_stages():
    _, ax = diagrams.traditional_workflow(cross_out_removed=True)
    crossed = {int(line.get_gid().split("-")[1]) for line in ax.lines if (line.get_gid() or "").startswith("cross-")}
    assert crossed == set(diagrams.REMOVED_BY_END_TO_END)
    _, ax_plain = diagrams.traditional_workflow()
    assert not [line for line in ax_plain.lines if (line.get_gid() or "").startswith("cross-")]


def test_highlight_changes_the_style_of_only_that_box():
    _, ax = diagrams.draw_workflow(["a", "b", "c"], highlight=[1])
    _, ax_plain = diagrams.draw_workflow(["a", "b", "c"])
    boxes, plain = _boxes(ax), _boxes(ax_plain)
    assert boxes[1].get_facecolor() != plain[1].get_facecolor()
    assert boxes[0].get_facecolor() == plain[0].get_facecolor()
    assert boxes[2].get_facecolor() == plain[2].get_facecolor()


def test_empty_stage_list_raises_clear_error():
    with pytest.raises(ValueError, match="at least one stage"):
        diagrams.draw_workflow([])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"highlight": [3]}, "out of range"),
        ({"crossed_out": [-1]}, "out of range"),
        ({"highlight": [1], "crossed_out": [1]}, "both highlighted and crossed out"),
        ({"width": 1.0}, "narrower"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.draw_workflow(["a", "b", "c"], **kwargs)


def test_blank_label_raises():
    with pytest.raises(ValueError, match="stage 1 has no label"):
        diagrams.draw_workflow(["a", "  ", "c"])


def test_draws_on_a_given_axes():
    fig, ax = plt.subplots()
    fig_out, ax_out = diagrams.draw_workflow(["x", "y"], ax=ax)
    assert ax_out is ax and fig_out is fig
    assert len(_boxes(ax)) == 2


def test_comparison_lines_up_first_and_last_boxes():
    fig, (top, bottom) = diagrams.compare_workflows()
    top_boxes, bottom_boxes = _boxes(top), _boxes(bottom)
    assert len(top_boxes) == len(diagrams.TRADITIONAL_STAGES)
    assert len(bottom_boxes) == len(diagrams.END_TO_END_STAGES)
    assert bottom_boxes[0].get_x() == pytest.approx(top_boxes[0].get_x())
    assert bottom_boxes[-1].get_x() == pytest.approx(top_boxes[-1].get_x())
    assert top.get_xlim() == pytest.approx(bottom.get_xlim())


@pytest.mark.parametrize(
    "make",
    [
        diagrams.traditional_workflow,
        lambda: diagrams.traditional_workflow(cross_out_removed=True),
        diagrams.end_to_end_workflow,
        diagrams.compare_workflows,
        lambda: diagrams.draw_workflow(diagrams.FCN_STAGES, title="Figure 7"),
        lambda: diagrams.draw_workflow(diagrams.CNN_STAGES),
    ],
)
def test_figures_render_to_png(make):
    fig = make()[0]
    data = _png_bytes(fig)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000

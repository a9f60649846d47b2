"""reports.report_map helpers."""
import numpy as np
import shapely

from reports.report_map import _drawn_outlines


def test_drawn_outlines_simplify_without_erasing_a_county():
    """Many-county maps draw simplified outlines; a county smaller than the tolerance keeps a shape."""
    wiggly = shapely.Polygon([(x, (x % 2) * 0.01) for x in range(101)] + [(100, 50), (0, 50)])
    tiny = shapely.box(200, 0, 200.5, 0.5)  # under the tolerance: Douglas-Peucker alone erases it
    got = _drawn_outlines(np.array([wiggly, tiny], dtype=object), 1.0)
    assert shapely.get_num_coordinates(got[0]) < shapely.get_num_coordinates(wiggly)
    assert not shapely.is_empty(got[1]) and shapely.area(got[1]) > 0
    assert shapely.simplify(tiny, 1.0, preserve_topology=False).is_empty  # what the fallback is for

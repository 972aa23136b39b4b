"""Track interpolation with CVAT's semantics (spec §2.3, ``TrackManager.get_interpolated_shapes``).

All frame numbers are relative task frames. A track stores keyframes only; the functions
here produce one ``Shape`` per frame the way CVAT's exports see the track:

* ``interpolate_track``: CVAT's interpolation (plus, for skeletons, the element shapes of
  each frame as CVAT's per-frame ``to_shapes`` attaches them);
* ``frame_shapes``: what image-style (per-frame) exports draw: no outside shapes, and no
  skeleton whose elements are all outside;
* ``video_track_shapes``: what "CVAT for video" writes inside a ``<track>``.

The float arithmetic follows CVAT operation by operation, so that coordinates printed with
two decimals come out identical.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Container, Iterator, Sequence
from dataclasses import replace
from operator import attrgetter, lt

from cvat_bridge.model import Shape, Track, replace_shape
from cvat_bridge.poly_match import apply_plan, match_vertices, offsets, pairs, reduction_plan

__all__ = [
    "ConflictingKeyframesError", "InterpolationError", "angle_delta", "frame_shapes", "interpolate_track",
    "iter_track_shapes", "iter_visible_shapes", "keyframes", "video_track_shapes", "window_shapes",
]

LINEAR_TYPES = frozenset({"rectangle", "ellipse", "cuboid", "skeleton"})
POLY_TYPES = frozenset({"polygon", "polyline"})

Geometry = tuple[list[float], float]  # points, rotation
Interpolator = Callable[[float], Geometry]


class InterpolationError(ValueError):
    """A track whose keyframes cannot be interpolated (CVAT fails the export too)."""


class ConflictingKeyframesError(InterpolationError):
    """Two different keyframes of one track on the same frame."""


def keyframes(track: Track, deleted_frames: Collection[int] = ()) -> list[Shape]:
    """The track's keyframes as interpolation uses them.

    Sorted by frame (stable), keyframes on deleted frames dropped, exact duplicates
    skipped; two different keyframes on one frame raise ``ConflictingKeyframesError``.
    """
    frames = [s.frame for s in track.shapes]
    if all(map(lt, frames, frames[1:])):  # the usual case: stored in order, one keyframe per frame
        if not deleted_frames:
            return list(track.shapes)
        return [s for s in track.shapes if s.frame not in deleted_frames]
    ordered = sorted(track.shapes, key=_FRAME)
    result: list[Shape] = []
    for shape in ordered:
        if shape.frame in deleted_frames:
            continue
        if result and result[-1].frame == shape.frame:
            if _same_keyframe(result[-1], shape):
                continue
            raise ConflictingKeyframesError(
                f"track '{track.label}' (starting at frame {track.frame}) has two different "
                f"keyframes on frame {shape.frame}"
            )
        result.append(shape)
    return result


_FRAME = attrgetter("frame")


def _derived(key: Shape, frame: int, points: list[float], rotation: float, track: Track,
             attributes: dict[str, str], keyframe: bool) -> Shape:
    """A shape of ``track`` made from keyframe ``key``, with no elements.

    ``dataclasses.replace`` without its per-call field introspection, which dominated the
    interpolation of big tasks (``test_interpolate`` checks that every field of ``Shape`` is
    handled here).
    """
    # positional, in the field order model.py asserts
    return Shape(key.type, frame, points, track.label, key.occluded, key.outside, key.z_order, rotation,
                 track.group, track.source, attributes, [], key.score, keyframe)


def _same_keyframe(a: Shape, b: Shape) -> bool:
    return replace(a, keyframe=True) == replace(b, keyframe=True)


def angle_delta(right: float, left: float) -> float:
    """CVAT's signed rotation step from ``left`` to ``right`` (degrees).

    Normally the shortest arc in [-180, 180); CVAT's fallback branch turns an exact
    half turn (-180) into +1 degree, which is reproduced here.
    """
    delta = ((right - left + 180) % 360) - 180
    if abs(delta) >= 180:
        delta = 360 + abs(delta) if delta > 0 else 1
    return delta


def _linear(k0: Shape, k1: Shape) -> Interpolator:
    if len(k0.points) != len(k1.points):
        raise InterpolationError(
            f"{k0.type} keyframes on frames {k0.frame} and {k1.frame} have different point counts"
        )
    p0 = k0.points
    diff = [b - a for a, b in zip(p0, k1.points, strict=True)]
    r0 = k0.rotation
    turn = angle_delta(k1.rotation, k0.rotation)
    if len(p0) == 4:  # boxes and ellipses, the bulk of big tasks: the same operations, unrolled
        x0, y0, x1, y1 = p0
        dx0, dy0, dx1, dy1 = diff

        def at4(t: float) -> Geometry:
            return [x0 + dx0 * t, y0 + dy0 * t, x1 + dx1 * t, y1 + dy1 * t], (r0 + turn * t + 360) % 360

        return at4

    def at(t: float) -> Geometry:
        return [a + d * t for a, d in zip(p0, diff, strict=True)], (r0 + turn * t + 360) % 360

    return at


def _copy_left(k0: Shape) -> Interpolator:
    def at(t: float) -> Geometry:
        return list(k0.points), k0.rotation

    return at


def _polyshape(k0: Shape, k1: Shape) -> Interpolator:
    closed = k0.type == "polygon"
    left = pairs(k0.points)
    right = pairs(k1.points)
    if not left or not right:
        raise InterpolationError(f"{k0.type} keyframe without points near frame {k0.frame}")
    if closed:  # polygons are matched as closed curves; the extra point is cut afterwards
        left.append(left[0])
        right.append(right[0])
    matching = match_vertices(offsets(left), offsets(right))
    # each matched pair as (x, y, dx, dy); the reduction steps depend on the keyframes only
    moves = [(a[0], a[1], b[0] - a[0], b[1] - a[1])
             for a, b in ((left[i], right[j]) for i, m in enumerate(matching) for j in m)]
    plan = reduction_plan(matching, left, right)
    rotation = k0.rotation

    def at(t: float) -> Geometry:
        reduced = apply_plan([(x + dx * t, y + dy * t) for x, y, dx, dy in moves], plan)
        if closed:
            reduced = reduced[:-1]
        return [c for p in reduced for c in p], rotation

    return at


def _interpolator(k0: Shape, k1: Shape) -> Interpolator:
    if k0.type != k1.type:
        raise InterpolationError(
            f"cannot interpolate a {k0.type} keyframe (frame {k0.frame}) into a {k1.type} "
            f"keyframe (frame {k1.frame})"
        )
    if k0.type in LINEAR_TYPES:
        return _linear(k0, k1)
    if k0.type == "points":
        if len(k0.points) == 2 and len(k1.points) == 2:
            return _linear(k0, k1)
        return _copy_left(k0)
    if k0.type in POLY_TYPES:
        return _polyshape(k0, k1)
    if k0.type == "mask":
        return _copy_left(k0)
    raise InterpolationError(f"cannot interpolate shapes of type '{k0.type}'")


# --- the frame sequence ---------------------------------------------------------------


def _inherit(previous: dict[str, str], current: dict[str, str]) -> dict[str, str]:
    """Mutable attributes of a keyframe: its own, then the ones it lacks from the previous one."""
    if all(name in current for name in previous):
        return current
    merged = dict(current)
    for name, value in previous.items():
        merged.setdefault(name, value)
    return merged


def _sequence(
    track: Track,
    end_frame: int,
    *,
    start_frame: int,
    deleted_frames: Collection[int],
    included_frames: Container[int] | None,
    include_outside: bool,
    with_attributes: bool,
    visible_only: bool = False,
    share_attributes: bool = False,
) -> Iterator[Shape]:
    """The track's shapes, ascending. ``visible_only``: outside keyframes are left out too (what a
    per-frame export draws). ``share_attributes``: the shapes made from one keyframe share one
    read-only attributes dict, like loaded objects do, instead of a copy each."""
    keys = keyframes(track, deleted_frames)
    first = max(track.frame, start_frame)
    filtered = bool(deleted_frames) or included_frames is not None
    label, group, source = track.label, track.group, track.source

    def wanted(frame: int) -> bool:
        return (
            first <= frame < end_frame
            and frame not in deleted_frames
            and (included_frames is None or frame in included_frames)
        )

    attributes: dict[str, str] = {}
    begin = 0
    if not with_attributes:  # nothing to carry along: start at the last keyframe before the window
        begin = max(0, bisect_right([k.frame for k in keys], first) - 1)
    for index in range(begin, len(keys)):
        key = keys[index]
        if key.frame >= end_frame:
            break
        if with_attributes:
            attributes = _inherit(attributes, key.attributes) if index else key.attributes
        nxt = keys[index + 1] if index + 1 < len(keys) else None
        fill = not key.outside or include_outside
        if fill and nxt is not None and nxt.type != key.type:
            _interpolator(key, nxt)  # raises, as CVAT does even when no frame lies between
        gap_end = min(nxt.frame, end_frame) if nxt is not None else end_frame
        gap: Sequence[int] = ()
        if fill:  # frames between this keyframe and the next, all within [first, end_frame)
            gap = range(max(key.frame + 1, first), gap_end)
            if filtered:
                gap = [f for f in gap if f not in deleted_frames and (included_frames is None or f in included_frames)]
        keep = wanted(key.frame) and not (visible_only and key.outside)
        if not keep and not gap:
            continue
        if keep:
            yield _derived(key, key.frame, key.points, key.rotation, track,
                           attributes if share_attributes else dict(attributes), True)
        if not gap:
            continue
        # the hot loops build each Shape inline (as _derived does): one call less per frame
        kind, occluded, outside, z_order, score = key.type, key.occluded, key.outside, key.z_order, key.score
        if nxt is None:
            points, rotation = key.points, key.rotation
            for frame in gap:
                yield Shape(kind, frame, list(points), label, occluded, outside, z_order, rotation, group, source,
                            attributes if share_attributes else dict(attributes), [], score, False)
            continue
        at = _interpolator(key, nxt)
        base = key.frame
        distance = nxt.frame - base
        for frame in gap:
            points, rotation = at((frame - base) / distance)
            yield Shape(kind, frame, points, label, occluded, outside, z_order, rotation, group, source,
                        attributes if share_attributes else dict(attributes), [], score, False)


def interpolate_track(
    track: Track,
    end_frame: int,
    *,
    start_frame: int = 0,
    deleted_frames: Collection[int] = (),
    included_frames: Container[int] | None = None,
    include_outside: bool = False,
) -> list[Shape]:
    """One shape per frame of ``track`` in ``[track.frame, end_frame)``, ascending.

    Keyframes are always returned (outside ones too); interpolated frames after an
    outside keyframe only with ``include_outside``. ``start_frame`` only limits the output
    (the shapes on ``[start_frame, end_frame)`` are the same as without it).

    Skeleton tracks: the returned skeleton shapes carry their ``elements``, each element
    track interpolated with ``include_outside=True`` on the parent's frames; without
    ``include_outside`` a skeleton whose elements are all outside is dropped (CVAT's
    ``to_shapes``). Attributes are the mutable ones; the track's immutable attributes
    stay on the track.
    """
    shapes = list(_sequence(
        track, end_frame, start_frame=start_frame, deleted_frames=deleted_frames,
        included_frames=included_frames, include_outside=include_outside, with_attributes=True,
    ))
    if not track.elements or not shapes:
        return shapes
    by_frame = {s.frame: s for s in shapes}
    for element in track.elements:
        for shape in _sequence(
            element, end_frame, start_frame=start_frame, deleted_frames=deleted_frames,
            included_frames=by_frame, include_outside=True, with_attributes=True,
        ):
            by_frame[shape.frame].elements.append(shape)
    if include_outside:
        return shapes
    return [s for s in shapes if not s.elements or not all(e.outside for e in s.elements)]


def iter_track_shapes(
    track: Track,
    end_frame: int,
    *,
    deleted_frames: Collection[int] = (),
    included_frames: Container[int] | None = None,
) -> Iterator[Shape]:
    """``interpolate_track`` (without outside frames) made lazily, one frame at a time, so that
    a per-frame export holds only the current shape of each track instead of every frame of every
    track. Skeleton tracks, whose element tracks are aligned frame by frame, are made whole."""
    if track.elements:
        return iter(interpolate_track(
            track, end_frame, deleted_frames=deleted_frames, included_frames=included_frames))
    return _sequence(
        track, end_frame, start_frame=0, deleted_frames=deleted_frames, included_frames=included_frames,
        include_outside=False, with_attributes=True,
    )


def iter_visible_shapes(
    track: Track,
    end_frame: int,
    *,
    deleted_frames: Collection[int] = (),
    included_frames: Container[int] | None = None,
) -> Iterator[Shape]:
    """``frame_shapes`` made lazily, one frame at a time (the streamed per-frame view).

    The shapes made from one keyframe share one attributes dict: treat it as read-only.
    Skeleton tracks, whose element tracks are aligned frame by frame, are made whole.
    """
    if track.elements:
        return iter(frame_shapes(track, end_frame, deleted_frames=deleted_frames, included_frames=included_frames))
    return _sequence(
        track, end_frame, start_frame=0, deleted_frames=deleted_frames, included_frames=included_frames,
        include_outside=False, with_attributes=True, visible_only=True, share_attributes=True,
    )


def frame_shapes(
    track: Track,
    end_frame: int,
    *,
    deleted_frames: Collection[int] = (),
    included_frames: Container[int] | None = None,
) -> list[Shape]:
    """The shapes a per-frame (image-style) export draws for ``track``: visible ones only."""
    shapes = interpolate_track(
        track, end_frame, deleted_frames=deleted_frames, included_frames=included_frames
    )
    return [s for s in shapes if not s.outside]


def video_track_shapes(
    track: Track, end_frame: int, *, deleted_frames: Collection[int] = ()
) -> list[Shape]:
    """The shapes "CVAT for video" writes inside the ``<track>`` of ``track``.

    Keyframes (outside ones included) and visible interpolated frames. For a skeleton,
    every element track is interpolated on its own; a skeleton shape is written only on
    frames where some element shape exists, holding those element shapes in element order.
    The shapes made from one keyframe share one attributes dict: treat it as read-only.
    """
    if not track.elements:  # interpolate_track, without a copy of the attributes per frame
        return list(_sequence(
            track, end_frame, start_frame=0, deleted_frames=deleted_frames, included_frames=None,
            include_outside=False, with_attributes=True, share_attributes=True,
        ))
    shapes = _sequence(
        track, end_frame, start_frame=0, deleted_frames=deleted_frames, included_frames=None,
        include_outside=False, with_attributes=True, share_attributes=True,
    )
    per_frame: dict[int, list[Shape]] = {}
    for element in track.elements:
        for shape in interpolate_track(element, end_frame, deleted_frames=deleted_frames):
            per_frame.setdefault(shape.frame, []).append(shape)
    return [replace_shape(s, elements=per_frame[s.frame]) for s in shapes if s.frame in per_frame]


def window_shapes(track: Track, start_frame: int, end_frame: int) -> list[Shape]:
    """Interpolated shapes on ``[start_frame, end_frame)`` without attribute bookkeeping.

    What CVAT's track matching compares (no deleted frames, no outside interpolation).
    """
    frames = [s.frame for s in track.shapes]
    if all(map(lt, frames, frames[1:])):  # ordered keyframes: only those around the window matter
        low = max(0, bisect_right(frames, start_frame) - 1)
        high = bisect_left(frames, end_frame) + 1
        if low > 0 or high < len(frames):
            track = Track(label=track.label, frame=track.frame, shapes=track.shapes[low:high], group=track.group,
                          source=track.source, attributes=track.attributes)
    return list(_sequence(
        track, end_frame, start_frame=start_frame, deleted_frames=(), included_frames=None,
        include_outside=False, with_attributes=False,
    ))

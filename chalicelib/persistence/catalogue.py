"""The catalogue's index walks: every `order_by` the API accepts is one walk of an index, from
an exclusive position, so a page of L images reads about L items whatever the catalogue size.

- the first field decides the index: `name` (unique, so later fields never matter) or
  `created` (its `created_key` is `<created>#<name>`, ties broken by name);
- under `created`, equal times are ordered by name in the direction `name` has later in
  `order_by` (ascending when absent, as the in-memory sort did); when that differs from the
  direction of `created`, each group of equal times is read whole and reversed (such groups
  are as large as the images created in the same microsecond);
- a DC image admin walks the DC partitions of each of their DCs, merged in order.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.vocabulary import Access
from chalicelib.persistence.catalogue_keys import LISTED, created_key
from chalicelib.persistence.models import Image

NAME, CREATED = "name", "created"
_GROUP_END = "$"  # sorts right after "#", so "<created>$" follows every "<created>#<name>"


@dataclass(frozen=True)
class Walk:
    by: str                 # NAME or CREATED: the index sort key
    descending: bool
    ties_descending: bool   # CREATED only: name order among equal times

    @property
    def regrouped(self) -> bool:
        return self.by == CREATED and self.ties_descending != self.descending

    def position(self, image: Image) -> str:
        """Where `image` is in this walk: its index sort key (computed, so a record not yet
        backfilled has one too)."""
        return image.name if self.by == NAME else created_key(image.created, image.name)

    def order_key(self, position: str) -> Any:
        """Ascending in the walk's direction of its first field (ties of a regrouped walk in
        the opposite one)."""
        if not self.regrouped:
            return position
        created, _, name = position.partition("#")
        return created, _Reversed(name)

    def image_key(self, image: Image) -> Any:
        return self.order_key(self.position(image))

    def beyond(self, image: Image, after: str) -> bool:
        mine, theirs = self.image_key(image), self.order_key(after)
        return bool(mine < theirs) if self.descending else bool(theirs < mine)


def plan(order: list[tuple[str, bool]]) -> Walk:
    by, descending = order[0]
    if by == NAME:
        return Walk(NAME, descending, descending)
    ties = next((desc for field, desc in order if field == NAME), False)
    return Walk(CREATED, descending, ties)


def walk(how: Walk, dcs: Iterable[str] | None, after: str | None, page_size: int | None
         ) -> Iterator[Image]:
    """Listed images in `how` order strictly after position `after`; `dcs` None = every
    listed image (a SuperAdmin), else the images bound to those DCs. Reads lazily,
    `page_size` items per Query and partition."""
    if dcs is None:
        return _partition(how, None, after, page_size)
    walks = [_partition(how, dc, after, page_size) for dc in sorted(dcs)]
    if len(walks) == 1:
        return walks[0]
    # positions are unique (they end in the unique name), so the merge needs no tiebreak
    return heapq.merge(*walks, key=how.image_key, reverse=how.descending)


def scan_walk(how: Walk, dcs: Iterable[str] | None, after: str | None) -> Iterator[Image]:
    """The same walk before the backfill has finished (`catalogue_migration`): a record
    without its index keys is not in the indexes yet, so the listing reads the whole table
    and sorts it in memory, as every listing did before the indexes."""
    condition = Image.access != int(Access.INTERNAL)
    if dcs is not None:
        condition &= Image.dc_bound.is_in(*sorted(dcs))
    items = sorted(Image.scan(condition), key=how.image_key, reverse=how.descending)
    return iter([image for image in items if after is None or how.beyond(image, after)])


class _Reversed(str):
    """Sorts backwards: ties in the opposite direction of the walk."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)


def _index(how: Walk, dc: str | None) -> Any:
    if dc is None:
        return Image.by_name if how.by == NAME else Image.by_created
    return Image.dc_by_name if how.by == NAME else Image.dc_by_created


def _sort_attr(how: Walk) -> Any:
    return Image.name if how.by == NAME else Image.created_key


def _query(how: Walk, dc: str | None, condition: Any, page_size: int | None
           ) -> Iterator[Image]:
    return iter(_index(how, dc).query(dc if dc is not None else LISTED, condition,
                                      scan_index_forward=not how.descending,
                                      page_size=page_size))


def _partition(how: Walk, dc: str | None, after: str | None, page_size: int | None
               ) -> Iterator[Image]:
    attr = _sort_attr(how)
    if not how.regrouped:
        condition = None if after is None else (attr < after if how.descending else attr > after)
        yield from _query(how, dc, condition, page_size)
        return
    start = None
    if after is not None:
        # the rest of the position's own group, then the groups after it
        created, _, name = after.partition("#")
        rest = [image for image in _query(how, dc, attr.startswith(created + "#"), page_size)
                if (image.name < name if how.ties_descending else image.name > name)]
        yield from sorted(rest, key=lambda image: image.name, reverse=how.ties_descending)
        start = created + "#" if how.descending else created + _GROUP_END
    condition = None if start is None else (attr < start if how.descending else attr > start)
    # a group ends at the first item of the next one: one item more than the page shows
    ahead = None if page_size is None else page_size + 1
    groups = itertools.groupby(_query(how, dc, condition, ahead),
                               key=lambda image: str(image.created_key).partition("#")[0])
    for _, group in groups:
        yield from sorted(group, key=lambda image: image.name, reverse=how.ties_descending)


def valid_position(how: Walk, position: Any) -> bool:
    """A position this walk can have produced (a cursor is checked before it is used)."""
    if not isinstance(position, str) or not position:
        return False
    if how.by == NAME:
        return True
    created, sep, name = position.partition("#")
    return bool(sep and name) and len(created) == 26 and created[4] == "-"

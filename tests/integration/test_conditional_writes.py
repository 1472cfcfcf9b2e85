"""persistence.conditional: under one condition exactly one writer wins; other errors raise."""
from __future__ import annotations

import pytest
from pynamodb.exceptions import UpdateError

from chalicelib.persistence.conditional import (
    conditional_delete,
    conditional_save,
    conditional_update,
)
from chalicelib.persistence.models import Datacenter


def test_the_first_writer_wins_and_the_second_is_told(clean):
    assert conditional_save(Datacenter("dc9", image_count=0), Datacenter.name.does_not_exist())
    assert not conditional_save(Datacenter("dc9", image_count=5),
                                Datacenter.name.does_not_exist())
    unset = Datacenter.image_limit.does_not_exist()
    assert conditional_update(Datacenter("dc9"), [Datacenter.image_limit.set(1)], unset)
    assert not conditional_update(Datacenter("dc9"), [Datacenter.image_limit.set(2)], unset)
    kept = Datacenter.get("dc9", consistent_read=True)
    assert (kept.image_count, kept.image_limit) == (0, 1)
    assert conditional_delete(Datacenter("dc9"), Datacenter.name.exists())
    assert not conditional_delete(Datacenter("dc9"), Datacenter.name.exists())


def test_an_error_other_than_a_lost_condition_still_raises(clean):
    # a key attribute cannot be updated: DynamoDB refuses it (a ValidationException)
    with pytest.raises(UpdateError):
        conditional_update(Datacenter("main"), [Datacenter.name.set("other")],
                           Datacenter.name.exists())

"""Client rows: operator edits never undo what the pipeline wrote."""

import pytest
from django.core.exceptions import ValidationError

from syncers.models import SyncClient
from syncers.pipeline.fence import take_fence
from syncers.pipeline.stage import save_checkpoint

pytestmark = pytest.mark.django_db


def test_saving_a_client_loaded_earlier_keeps_the_current_fence_and_checkpoint(make_client) -> None:
    client = make_client()
    stale_copy = SyncClient.objects.get(pk=client.pk)
    fence = take_fence(client.pk)
    save_checkpoint(client.pk, {"next_page": 7})

    stale_copy.batch_size = 123
    stale_copy.save()  # e.g. an admin form opened before the run started

    fresh = SyncClient.objects.get(pk=client.pk)
    assert (fresh.batch_size, fresh.fence, fresh.checkpoint) == (123, fence, {"next_page": 7})


def test_an_unknown_handler_or_bad_config_is_refused_at_the_field(make_client) -> None:
    client = make_client()
    client.handler = "nope"
    with pytest.raises(ValidationError) as err:
        client.full_clean()
    assert "Unknown sync handler" in str(err.value.message_dict["handler"])
    client.handler = "rest"
    client.config = {"path": "/x", "page_size": 0, "bogus": 1}
    with pytest.raises(ValidationError) as err:
        client.full_clean()
    assert "Unknown source option bogus" in str(err.value.message_dict["config"])
